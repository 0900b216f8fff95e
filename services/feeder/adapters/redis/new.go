package redis

import goredis "github.com/redis/go-redis/v9"

// New returns a store over rdb, a client built by internal/redisclient (the
// platform's timeouts and logging). The store does not own rdb: whoever
// built it closes it.
func New(rdb *goredis.Client) *Store { return &Store{rdb: rdb} }

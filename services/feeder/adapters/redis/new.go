package redis

import (
	"github.com/pawnshop/auction/internal/fraudlist"
	goredis "github.com/redis/go-redis/v9"
)

// New returns a store of the list named by keys over rdb, a client built by
// internal/redisclient (the platform's timeouts and logging). The store does
// not own rdb: whoever built it closes it.
func New(rdb *goredis.Client, keys fraudlist.Keys) *Store { return &Store{rdb: rdb, keys: keys} }

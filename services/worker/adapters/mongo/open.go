package mongo

import "context"

// Open connects s, a Store that was not connected yet (new(Store)), to the
// server at uri, database database: Connect's work, done into an existing
// Store so that the worker's fx module can provide the Store from a
// constructor without I/O and connect it in OnStart. The Store must not be
// used before Open succeeded.
func (s *Store) Open(ctx context.Context, uri, database string) error {
	opened, err := Connect(ctx, uri, database)
	if err != nil {
		return err
	}
	s.client, s.db = opened.client, opened.db
	return nil
}

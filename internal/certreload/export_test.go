package certreload

import "time"

// SetClock replaces the clock the check interval is measured with.
func SetClock(k *Keypair, now func() time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.now = now
}

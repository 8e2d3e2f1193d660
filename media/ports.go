package media

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
)

// errNoPorts: every even port of the RTP range is in use.
var errNoPorts = errors.New("media: no free RTP port")

// portAllocator hands out the even ports of a range, each with the odd port
// above it (RTP and RTCP). It starts each search at a random slot and probes
// linearly, which spreads calls over the range. It only tracks its own
// ports: a port some other process holds fails to bind and the search moves
// on.
type portAllocator struct {
	first uint16 // lowest even port
	slots int    // number of even ports with their odd neighbour in range

	mu   sync.Mutex
	used []bool // by slot
}

// newPortAllocator covers the even ports p with min ≤ p and p+1 ≤ max.
func newPortAllocator(lo, hi uint16) (*portAllocator, error) {
	first := int(lo) + int(lo)%2
	slots := (int(hi) - first + 1) / 2
	if lo == 0 || hi < lo || slots <= 0 {
		return nil, fmt.Errorf("media: RTP port range %d–%d holds no even/odd port pair", lo, hi)
	}
	return &portAllocator{first: uint16(first), slots: slots, used: make([]bool, slots)}, nil
}

// acquire reserves a port and calls bind with it, outside the lock. When
// bind fails the port is released and the next free one is tried. It
// returns the bound port, or errNoPorts (wrapping the last bind error, if
// any) when no port could be bound.
func (a *portAllocator) acquire(bind func(port uint16) error) (uint16, error) {
	start := rand.IntN(a.slots)
	var lastErr error
	for i := range a.slots {
		slot := (start + i) % a.slots
		if !a.reserve(slot) {
			continue
		}
		port := a.port(slot)
		if err := bind(port); err != nil {
			a.release(port)
			lastErr = err
			continue
		}
		return port, nil
	}
	if lastErr != nil {
		return 0, fmt.Errorf("%w in %d–%d (last: %w)", errNoPorts, a.first, a.port(a.slots-1)+1, lastErr)
	}
	return 0, fmt.Errorf("%w in %d–%d", errNoPorts, a.first, a.port(a.slots-1)+1)
}

func (a *portAllocator) port(slot int) uint16 { return a.first + uint16(2*slot) }

func (a *portAllocator) reserve(slot int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.used[slot] {
		return false
	}
	a.used[slot] = true
	return true
}

// release returns a port acquired before. Releasing a port twice, or one
// outside the range, is a no-op.
func (a *portAllocator) release(port uint16) {
	if port < a.first || port%2 != a.first%2 {
		return
	}
	slot := int(port-a.first) / 2
	if slot >= a.slots {
		return
	}
	a.mu.Lock()
	a.used[slot] = false
	a.mu.Unlock()
}

// inUse returns the number of ports handed out.
func (a *portAllocator) inUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, u := range a.used {
		if u {
			n++
		}
	}
	return n
}

package supervisor

import (
	"fmt"
	"net"
	"os"
	"sync"

	"github.com/libp2p/go-reuseport"
)

// listenerPool owns one SO_REUSEPORT listening socket per worker slot, all
// bound to the same address, so the kernel spreads new connections over the
// slots by hash. The supervisor keeps each socket open while its slot
// exists and hands it to every process that serves the slot. Replacing a
// worker therefore never closes a socket, which matters because closing a
// listening socket makes the kernel reset the connections waiting in its
// accept queue (unless net.ipv4.tcp_migrate_req is set, Linux 5.14+).
type listenerPool struct {
	addr string

	mu      sync.Mutex
	sockets map[int]*os.File // by slot index
}

func newListenerPool(addr string) *listenerPool {
	return &listenerPool{addr: addr, sockets: make(map[int]*os.File)}
}

// open returns slot index's socket, binding a new one if the slot has none.
// The returned file stays owned by the pool.
func (p *listenerPool) open(index int) (*os.File, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if file, ok := p.sockets[index]; ok {
		return file, nil
	}
	listener, err := reuseport.Listen("tcp", p.addr)
	if err != nil {
		return nil, fmt.Errorf("supervisor: listen on %s: %w", p.addr, err)
	}
	// File returns a duplicate, so closing the Go listener leaves the
	// socket open and owned by the pool.
	file, err := listener.(*net.TCPListener).File()
	listener.Close()
	if err != nil {
		return nil, fmt.Errorf("supervisor: duplicate listening socket: %w", err)
	}
	p.sockets[index] = file
	return file, nil
}

// close closes slot index's socket, if open. The kernel resets the
// connections still queued on it, so callers close a socket only when no
// process of the slot will accept again soon.
func (p *listenerPool) close(index int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if file, ok := p.sockets[index]; ok {
		file.Close()
		delete(p.sockets, index)
	}
}

// closeAll closes every socket, when the supervisor stops.
func (p *listenerPool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for index, file := range p.sockets {
		file.Close()
		delete(p.sockets, index)
	}
}

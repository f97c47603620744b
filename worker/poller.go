package worker

import (
	"errors"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// poller watches every upgraded client socket with one epoll instance, so an
// idle connection costs a file descriptor and a small struct instead of
// goroutines and their stacks. Reads are rare (pings, close), and writes
// happen from the broadcasting goroutine until a socket's buffer fills; then
// EPOLLOUT resumes them here.
type poller struct {
	epfd int

	mu      sync.RWMutex
	clients map[int32]*client
}

func newPoller() (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &poller{epfd: epfd, clients: make(map[int32]*client)}, nil
}

const readEvents = unix.EPOLLIN | unix.EPOLLRDHUP

func (p *poller) add(c *client) error {
	p.mu.Lock()
	p.clients[int32(c.fd)] = c
	p.mu.Unlock()

	event := unix.EpollEvent{Events: readEvents, Fd: int32(c.fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, c.fd, &event); err != nil {
		p.mu.Lock()
		delete(p.clients, int32(c.fd))
		p.mu.Unlock()
		return err
	}
	return nil
}

// setWriteInterest turns EPOLLOUT on or off for c. The caller holds c.mu.
func (p *poller) setWriteInterest(c *client, on bool) error {
	events := uint32(readEvents)
	if on {
		events |= unix.EPOLLOUT
	}
	event := unix.EpollEvent{Events: events, Fd: int32(c.fd)}
	return unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, c.fd, &event)
}

// remove forgets c before its descriptor is closed, so a new connection that
// reuses the number is never mistaken for it. The caller holds c.mu.
func (p *poller) remove(c *client) {
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	p.mu.Lock()
	if p.clients[int32(c.fd)] == c {
		delete(p.clients, int32(c.fd))
	}
	p.mu.Unlock()
}

// run dispatches readiness events until stop is closed. It wakes at least
// every 200 ms to notice stop.
func (p *poller) run(stop <-chan struct{}) error {
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 4096)
	for {
		select {
		case <-stop:
			return nil
		default:
		}

		n, err := unix.EpollWait(p.epfd, events, 200)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		for i := range n {
			p.mu.RLock()
			c := p.clients[events[i].Fd]
			p.mu.RUnlock()
			if c == nil {
				continue
			}
			c.handleEvents(events[i].Events, buf)
		}
	}
}

func (p *poller) close() error {
	return unix.Close(p.epfd)
}

// wait for the deadline helper used at shutdown.
func sleepUntil(deadline time.Time, cond func() bool) bool {
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

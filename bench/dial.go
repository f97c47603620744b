package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// connsPerSourceAddr sizes the automatic number of loopback source
// addresses. Linux offers about 28,000 ephemeral ports per source address
// and destination (net.ipv4.ip_local_port_range defaults to 32768-60999);
// the margin leaves room for connections of earlier runs in TIME_WAIT.
const connsPerSourceAddr = 10000

// loopbackSourceAddrs returns count source addresses 127.0.0.1, 127.0.0.2,
// ... when the URL's host is an IPv4 loopback address, and none otherwise,
// because only the loopback network routes all of 127.0.0.0/8 to the host.
// count 0 picks one address per connsPerSourceAddr connections.
func loopbackSourceAddrs(rawURL string, conns, count int) ([]string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, &OptionsError{Reason: fmt.Sprintf("URL %q does not parse: %v", rawURL, err)}
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return nil, nil
	}
	if count == 0 {
		count = (conns + connsPerSourceAddr - 1) / connsPerSourceAddr
	}
	if count < 1 || count > 254 {
		return nil, &OptionsError{Reason: fmt.Sprintf("%d source addresses is out of range 1-254", count)}
	}
	addrs := make([]string, count)
	for i := range addrs {
		addrs[i] = "127.0.0." + strconv.Itoa(i+1)
	}
	return addrs, nil
}

// newDialers returns one WebSocket dialer per source address, or one that
// lets the kernel choose when addrs is empty.
func newDialers(addrs []string, timeout time.Duration) []ws.Dialer {
	if len(addrs) == 0 {
		var netDialer net.Dialer
		return []ws.Dialer{{Timeout: timeout, NetDial: netDialer.DialContext}}
	}
	dialers := make([]ws.Dialer, len(addrs))
	for i, addr := range addrs {
		netDialer := &net.Dialer{
			LocalAddr: &net.TCPAddr{IP: net.ParseIP(addr)},
			Control:   bindAddressNoPort,
		}
		dialers[i] = ws.Dialer{Timeout: timeout, NetDial: netDialer.DialContext}
	}
	return dialers
}

// bindAddressNoPort sets IP_BIND_ADDRESS_NO_PORT so that binding the source
// address leaves the port to connect(2). Without it, bind(2) picks a port
// unique for the address alone, and one source address could serve only
// about 28,000 connections in total instead of per destination.
func bindAddressNoPort(network, address string, raw syscall.RawConn) error {
	var sockErr error
	err := raw.Control(func(fd uintptr) {
		sockErr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return fmt.Errorf("bench: dial: socket control: %w", err)
	}
	if sockErr != nil {
		return fmt.Errorf("bench: dial: set IP_BIND_ADDRESS_NO_PORT: %w", sockErr)
	}
	return nil
}

// classifyDialError names the cause of a failed dial, for counting.
func classifyDialError(err error) string {
	var status ws.StatusError
	switch {
	case errors.As(err, &status):
		return "http status " + strconv.Itoa(int(status))
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no free local port (EADDRNOTAVAIL)"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	default:
		return shortError(err)
	}
}

// shortError returns the error text cut to 100 bytes, so that error kinds
// stay readable in a table.
func shortError(err error) string {
	text := err.Error()
	if len(text) > 100 {
		text = text[:100] + "..."
	}
	return text
}

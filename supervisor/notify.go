package supervisor

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// notifier sends sd_notify messages to systemd when the unit has
// Type=notify (NOTIFY_SOCKET is set); otherwise every call does nothing.
type notifier struct {
	log      *slog.Logger // rate-limited
	watchdog time.Duration

	mu         sync.Mutex
	lastStatus string
}

func newNotifier(log *slog.Logger) *notifier {
	n := &notifier{log: log}
	// Only the main process may ping: WATCHDOG_PID names it.
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("invalid systemd watchdog settings; not sending watchdog pings", "err", err)
	}
	n.watchdog = interval
	return n
}

func (n *notifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn("systemd notification failed", "state", strings.SplitN(state, "\n", 2)[0], "err", err)
	}
}

func (n *notifier) ready(status string) {
	n.mu.Lock()
	n.lastStatus = status
	n.mu.Unlock()
	n.send(daemon.SdNotifyReady + "\nSTATUS=" + status)
}

// reloading sends RELOADING=1 when a reload starts, and ready ends the
// reload. systemd 253 and later require the monotonic timestamp with it.
func (n *notifier) reloading() {
	var now unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &now)
	n.send(fmt.Sprintf("%s\nMONOTONIC_USEC=%d", daemon.SdNotifyReloading, now.Nano()/1000))
}

func (n *notifier) stopping() { n.send(daemon.SdNotifyStopping) }

// status sends STATUS= when it differs from the last one sent.
func (n *notifier) status(status string) {
	n.mu.Lock()
	changed := status != n.lastStatus
	n.lastStatus = status
	n.mu.Unlock()
	if changed {
		n.send("STATUS=" + status)
	}
}

func (n *notifier) ping() {
	if n.watchdog > 0 {
		n.send(daemon.SdNotifyWatchdog)
	}
}

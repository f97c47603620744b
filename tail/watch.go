package tail

import "os"

// watcher wakes the follower when the followed file or its directory may
// have changed. Wake-ups are hints: the follower finds out what changed by
// stat and read, so a lost or extra wake-up costs at most one interval of
// delay or one empty read. Independently of the watcher, the follower runs
// the same check every Options.PollInterval.
type watcher interface {
	// watchFile makes changes to the open file f wake the follower, even
	// after f was renamed or deleted. It replaces the previous file watch,
	// and f nil only removes it.
	watchFile(f *os.File)
	// refresh re-establishes watches lost since the last call, for example
	// because the directory was removed and created again.
	refresh()
	close()
}

// notify wakes the follower without blocking. The channel has one slot, so
// any number of notifications before the follower's next read merge into one
// read: reading never depends on one event per write.
func notify(wake chan<- struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}

package tail

import "os"

// pollWatcher sends no wake-ups, so the follower checks the file only every
// Options.PollInterval. This is Options.Poll, for file systems where inotify
// misses changes (NFS and other network file systems report only the changes
// made on this host) and for hosts out of inotify instances.
type pollWatcher struct{}

func (pollWatcher) watchFile(*os.File) {}
func (pollWatcher) refresh()           {}
func (pollWatcher) close()             {}

package tail

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fingerprintMaxBytes is how much of a file's beginning its fingerprint
// covers once the file is that long. A shorter file is fingerprinted over all
// of its bytes, and the fingerprint grows with the file up to this size.
const fingerprintMaxBytes = 1024

// Position identifies a byte in one particular file. It is JSON-encoded and
// stored beside each batch, and passing it back as Options.Start resumes
// reading at exactly that byte.
//
// A file is the same file when Dev and Inode match, Birth matches where the
// file system reports it, and the file's first FingerprintLen bytes still
// hash to Fingerprint. Birth distinguishes a new file that reuses a deleted
// file's inode number from the original. The fingerprint detects a file
// truncated and rewritten in place, and a reused inode where Birth is 0.
type Position struct {
	Dev   uint64 `json:"dev"`
	Inode uint64 `json:"ino"`
	// Birth is the file's creation time in nanoseconds since the Unix
	// epoch (statx STATX_BTIME, Linux 4.11 and later), or 0 where the file
	// system does not report it. ext4 reports it.
	Birth int64 `json:"birth,omitempty"`
	// Fingerprint is the hex SHA-256 (first 16 bytes) of the file's first
	// FingerprintLen bytes.
	Fingerprint string `json:"fp"`
	// FingerprintLen is the number of leading bytes hashed: the file size when
	// the fingerprint was last extended, at most 1024.
	FingerprintLen int `json:"fpl"`
	// Offset is the byte where reading resumes.
	Offset int64 `json:"off"`
}

// fileID is the device and inode pair that names a file while it exists.
type fileID struct {
	dev, ino uint64
}

func fileIDOf(info fs.FileInfo) fileID {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}
}

// fingerprint is the hash of a file's first n bytes.
type fingerprint struct {
	sum string
	n   int
}

func fingerprintOf(header []byte) fingerprint {
	sum := sha256.Sum256(header)
	return fingerprint{sum: hex.EncodeToString(sum[:16]), n: len(header)}
}

// matches reports whether header, a file's current first bytes, still begins
// with the bytes this fingerprint was taken over.
func (fp fingerprint) matches(header []byte) bool {
	if len(header) < fp.n {
		return false
	}
	return fingerprintOf(header[:fp.n]).sum == fp.sum
}

// readHeader reads up to fingerprintMaxBytes from the start of f into buf
// and returns the bytes read.
func readHeader(f *os.File, buf []byte) ([]byte, error) {
	n, err := f.ReadAt(buf[:fingerprintMaxBytes], 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return buf[:n], nil
}

// trackedFile is an open file with its identity and read offset.
type trackedFile struct {
	f       *os.File
	id      fileID
	birth   int64 // creation time in ns since the epoch, 0 when unknown
	fp      fingerprint
	readOff int64 // next byte to read, all bytes before it went to the splitter
	// lastGrowth is when a read last returned bytes, or when the file was
	// opened.
	lastGrowth time.Time
}

// openTracked opens path for reading and fingerprints it.
func openTracked(path string) (*trackedFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("tail: stat %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("tail: open %s: not a regular file (mode %s)", path, info.Mode())
	}
	header, err := readHeader(f, make([]byte, fingerprintMaxBytes))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("tail: read header of %s: %w", path, err)
	}
	return &trackedFile{
		f:          f,
		id:         fileIDOf(info),
		birth:      birthTime(f),
		fp:         fingerprintOf(header),
		lastGrowth: time.Now(),
	}, nil
}

// birthTime returns the creation time of f in nanoseconds since the Unix
// epoch, or 0 when the kernel or file system does not report one.
func birthTime(f *os.File) int64 {
	conn, err := f.SyscallConn()
	if err != nil {
		return 0
	}
	var stx unix.Statx_t
	statErr := errors.New("statx not run")
	_ = conn.Control(func(fd uintptr) {
		statErr = unix.Statx(int(fd), "", unix.AT_EMPTY_PATH, unix.STATX_BTIME, &stx)
	})
	if statErr != nil || stx.Mask&unix.STATX_BTIME == 0 {
		return 0
	}
	return stx.Btime.Sec*1e9 + int64(stx.Btime.Nsec)
}

// sameBirth reports whether two birth times may belong to one file: they
// are equal, or one of them is unknown.
func sameBirth(a, b int64) bool {
	return a == 0 || b == 0 || a == b
}

func (t *trackedFile) close() {
	t.f.Close()
}

func (t *trackedFile) position(off int64) Position {
	return Position{
		Dev:            t.id.dev,
		Inode:          t.id.ino,
		Birth:          t.birth,
		Fingerprint:    t.fp.sum,
		FingerprintLen: t.fp.n,
		Offset:         off,
	}
}

// verify rereads the header and reports whether the file still starts with
// the fingerprinted bytes. While the file is shorter than
// fingerprintMaxBytes, a matching header that has grown extends the
// fingerprint, so later checks compare more bytes.
func (t *trackedFile) verify(buf []byte) (bool, error) {
	header, err := readHeader(t.f, buf)
	if err != nil {
		return false, err
	}
	if !t.fp.matches(header) {
		return false, nil
	}
	if len(header) > t.fp.n {
		t.fp = fingerprintOf(header)
	}
	return true, nil
}

// matchesStart reports whether the open file is the one that start names
// and is still at least start.Offset bytes long.
func (t *trackedFile) matchesStart(start Position, buf []byte) (bool, error) {
	if t.id != (fileID{dev: start.Dev, ino: start.Inode}) || !sameBirth(t.birth, start.Birth) {
		return false, nil
	}
	info, err := t.f.Stat()
	if err != nil {
		return false, err
	}
	if info.Size() < start.Offset {
		return false, nil
	}
	header, err := readHeader(t.f, buf)
	if err != nil {
		return false, err
	}
	saved := fingerprint{sum: start.Fingerprint, n: start.FingerprintLen}
	return saved.matches(header), nil
}

// StartOf returns the Position of byte 0 of the file now at path. Passed as
// Options.Start, it makes Follow read that file from its beginning.
func StartOf(path string) (Position, error) {
	t, err := openTracked(path)
	if err != nil {
		return Position{}, err
	}
	defer t.close()
	return t.position(0), nil
}

// findRotated looks in dir for the file that start names, for example after
// app.log was renamed to app.log.1 while nothing followed it. It returns the
// opened file positioned at start.Offset, or nil when no file in dir matches.
func findRotated(dir string, start Position) *trackedFile {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	want := fileID{dev: start.Dev, ino: start.Inode}
	buf := make([]byte, fingerprintMaxBytes)
	for _, entry := range entries {
		if !entry.Type().IsRegular() {
			continue
		}
		info, err := entry.Info()
		if err != nil || fileIDOf(info) != want {
			continue
		}
		t, err := openTracked(filepath.Join(dir, entry.Name()))
		if err != nil {
			continue
		}
		ok, err := t.matchesStart(start, buf)
		if err != nil || !ok {
			t.close()
			continue
		}
		t.readOff = start.Offset
		return t
	}
	return nil
}

//go:build unix

package web

import "golang.org/x/sys/unix"

// diskSpace returns the bytes free (to an unprivileged user) and in all
// of the file system holding dir.
func diskSpace(dir string) (free, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	bs := uint64(st.Bsize)
	return st.Bavail * bs, st.Blocks * bs, nil
}

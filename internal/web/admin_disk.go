//go:build linux || darwin || freebsd

package web

import "syscall"

// diskSpace returns the bytes free (to an unprivileged user) and in all
// of the file system holding dir. (Field types differ between systems:
// hence the conversions.)
func diskSpace(dir string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	bs := uint64(st.Bsize)
	return uint64(st.Bavail) * bs, uint64(st.Blocks) * bs, nil
}

package store

import (
	"testing"
	"time"
)

// TestRowFilter: each row field of a Query against rows on both sides of
// its bound; a flag both set and unset passes nothing.
func TestRowFilter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type row struct {
		uid          UID
		flags        SysFlags
		modseq       ModSeq
		size         int64
		idate, sdate time.Time
	}
	base := row{uid: 5, flags: FlagSeen, modseq: 10, size: 100, idate: t0, sdate: t0}
	with := func(f func(*row)) row { r := base; f(&r); return r }
	for _, c := range []struct {
		name string
		q    Query
		pass []row
		fail []row
	}{
		{"any", Query{}, []row{base}, nil},
		{"unseen", Query{FlagsUnset: FlagSeen}, []row{with(func(r *row) { r.flags = FlagFlagged })}, []row{base}},
		{"seen and flagged", Query{FlagsSet: FlagSeen | FlagFlagged}, []row{with(func(r *row) { r.flags |= FlagFlagged })}, []row{base}},
		{"seen and unseen", Query{FlagsSet: FlagSeen, FlagsUnset: FlagSeen}, nil, []row{base, with(func(r *row) { r.flags = 0 })}},
		{"larger", Query{MinSize: 99}, []row{base}, []row{with(func(r *row) { r.size = 99 })}},
		{"smaller", Query{MaxSize: 101}, []row{base}, []row{with(func(r *row) { r.size = 101 })}},
		{"since", Query{Since: t0}, []row{base}, []row{with(func(r *row) { r.idate = t0.Add(-1) })}},
		{"before", Query{Before: t0}, []row{with(func(r *row) { r.idate = t0.Add(-1) })}, []row{base}},
		{"saved since", Query{SavedSince: t0}, []row{base}, []row{with(func(r *row) { r.sdate = t0.Add(-1) })}},
		{"saved before", Query{SavedBefore: t0.Add(1)}, []row{base}, []row{with(func(r *row) { r.sdate = t0.Add(1) })}},
		{"modseq", Query{MinModSeq: 10}, []row{base}, []row{with(func(r *row) { r.modseq = 9 })}},
		{"uids", Query{UIDs: UIDSet{{Lo: 1, Hi: 2}, {Lo: 5, Hi: 5}, {Lo: 9, Hi: 12}}},
			[]row{base, with(func(r *row) { r.uid = 10 })}, []row{with(func(r *row) { r.uid = 3 }), with(func(r *row) { r.uid = 13 })}},
	} {
		f := c.q.RowFilter()
		for want, rows := range map[bool][]row{true: c.pass, false: c.fail} {
			for _, r := range rows {
				if got := f.Match(r.uid, r.flags, r.modseq, r.size, r.idate.UnixNano(), r.sdate.UnixNano()); got != want {
					t.Errorf("%s: %+v: %v, want %v", c.name, r, got, want)
				}
			}
		}
	}
}

package store

import (
	"slices"
	"testing"
)

func TestUIDSetOfString(t *testing.T) {
	for _, tc := range []struct {
		uids []UID
		want string
	}{
		{nil, ""},
		{[]UID{7}, "7"},
		{[]UID{1, 2, 3, 7}, "1:3,7"},
		{[]UID{1, 3, 5, 6}, "1,3,5:6"},
		// COPYUID pairs keep their order (RFC 4315 §3).
		{[]UID{9, 10, 2, 3}, "9:10,2:3"},
		{[]UID{4294967294, 4294967295}, "4294967294:4294967295"},
		{[]UID{4294967295, 1}, "4294967295,1"},
	} {
		if got := UIDSetOf(tc.uids).SequenceSet(); got != tc.want {
			t.Errorf("UIDSetOf(%v).SequenceSet() = %q, want %q", tc.uids, got, tc.want)
		}
	}
}

func TestUIDSetAppendRange(t *testing.T) {
	var s UIDSet
	for _, r := range []UIDRange{{1, 2}, {3, 4}, {4, 9}, {12, 12}, {12, 13}, {20, 4294967295}, {4294967295, 4294967295}} {
		s = s.AppendRange(r.Lo, r.Hi)
	}
	want := UIDSet{{1, 9}, {12, 13}, {20, 4294967295}}
	if !slices.Equal(s, want) {
		t.Fatalf("AppendRange gave %v, want %v", s, want)
	}
	if s.SequenceSet() != "1:9,12:13,20:4294967295" {
		t.Fatalf("SequenceSet() = %q", s.SequenceSet())
	}
}

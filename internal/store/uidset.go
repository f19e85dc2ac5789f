package store

import "strconv"

// Contains reports whether uid is in the set.
func (s UIDSet) Contains(uid UID) bool {
	for _, r := range s {
		if uid >= r.Lo && uid <= r.Hi {
			return true
		}
	}
	return false
}

// UIDSetOf packs UIDs into ranges, each UID joining the range before it
// when it follows that range's last UID directly. Ascending UIDs give a
// set proper. Other orders give ranges in the order given, which
// SequenceSet keeps: that is what the paired sets of COPYUID and
// APPENDUID need (RFC 4315 §3, the n-th source UID answers the n-th
// destination UID); the other methods expect ascending ranges.
func UIDSetOf(uids []UID) UIDSet {
	var s UIDSet
	for _, u := range uids {
		if k := len(s); k > 0 && s[k-1].Hi != ^UID(0) && s[k-1].Hi+1 == u {
			s[k-1].Hi = u
			continue
		}
		s = append(s, UIDRange{Lo: u, Hi: u})
	}
	return s
}

// AppendRange adds lo..hi, which starts no lower than every range of s,
// merging it into the last range when they touch or overlap.
func (s UIDSet) AppendRange(lo, hi UID) UIDSet {
	if k := len(s); k > 0 && (s[k-1].Hi >= lo || s[k-1].Hi+1 == lo) {
		s[k-1].Hi = max(s[k-1].Hi, hi)
		return s
	}
	return append(s, UIDRange{Lo: lo, Hi: hi})
}

// SequenceSet formats the set in IMAP sequence-set syntax (RFC 9051 §9,
// "1:3,7"), the ranges in their order. Every UID is written as its
// number: a set in a response names UIDs that exist, never "*". (Not
// String: fmt keeps printing a set as its ranges, which tests and logs
// compare.)
func (s UIDSet) SequenceSet() string {
	var b []byte
	for i, r := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendUint(b, uint64(r.Lo), 10)
		if r.Hi != r.Lo {
			b = append(b, ':')
			b = strconv.AppendUint(b, uint64(r.Hi), 10)
		}
	}
	return string(b)
}

package server

import "strings"

// baseSubject extracts the base subject of RFC 5256 §2.1 from a subject
// already decoded to UTF-8 (step 1's encoded-word conversion is done at
// delivery by message.Parse). Matching is case-insensitive, so the result
// is lower-cased: SORT compares it lower-cased anyway.
func baseSubject(s string) string {
	base, _ := baseSubjectReply(s)
	return base
}

// baseSubjectReply is baseSubject that also says whether the subject is
// a reply or forward: RFC 5256 §3 (REFERENCES) calls it so when the
// extraction removes a subj-refwd, a "(fwd)" trailer or a "[fwd: ...]"
// wrapper (a blob alone does not count).
func baseSubjectReply(s string) (base string, reply bool) {
	// Step 1: tabs and line breaks become spaces; runs of spaces become one.
	s = strings.ToLower(s)
	if needsSpaceFolding(s) {
		s = strings.Join(strings.Fields(s), " ")
	}
	for {
		// Step 2: remove trailing "(fwd)" and white space, repeatedly.
		for {
			t := strings.TrimRight(s, " ")
			if u, ok := strings.CutSuffix(t, "(fwd)"); ok {
				t, reply = u, true
			}
			if t == s {
				break
			}
			s = t
		}
		// Steps 3 to 5: remove leaders and leading blobs until neither
		// matches.
		for {
			if t, ok := cutLeader(s); ok {
				// A leader is white space or ends in a subj-refwd.
				reply = reply || !strings.HasPrefix(s, " ")
				s = t
				continue
			}
			// Step 4: a leading blob goes if a non-empty base remains.
			if t, ok := cutBlob(s); ok && t != "" {
				s = t
				continue
			}
			break
		}
		// Step 6: "[fwd: ... ]" is unwrapped, and we start again at step 2.
		if len(s) >= len("[fwd:]") && strings.HasPrefix(s, "[fwd:") && strings.HasSuffix(s, "]") {
			s = s[len("[fwd:") : len(s)-1]
			reply = true
			continue
		}
		return s, reply
	}
}

// cutLeader removes one subj-leader: (*subj-blob subj-refwd) / WSP.
func cutLeader(s string) (string, bool) {
	if strings.HasPrefix(s, " ") {
		return s[1:], true
	}
	t := s
	for {
		rest, ok := cutBlob(t)
		if !ok {
			break
		}
		t = rest
	}
	return cutRefwd(t)
}

// cutRefwd removes one subj-refwd: ("re" / ("fw" ["d"])) *WSP [subj-blob] ":".
func cutRefwd(s string) (string, bool) {
	for _, p := range []string{"re", "fwd", "fw"} {
		t, ok := strings.CutPrefix(s, p)
		if !ok {
			continue
		}
		t = strings.TrimLeft(t, " ")
		if b, ok := cutBlob(t); ok && strings.HasPrefix(b, ":") {
			return b[1:], true
		}
		if strings.HasPrefix(t, ":") {
			return t[1:], true
		}
	}
	return s, false
}

// cutBlob removes one subj-blob: "[" *BLOBCHAR "]" *WSP, where BLOBCHAR
// is any character but "[" and "]".
func cutBlob(s string) (string, bool) {
	if !strings.HasPrefix(s, "[") {
		return s, false
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return s, false
	}
	return strings.TrimLeft(s[end+2:], " "), true
}

// needsSpaceFolding reports whether step 1 changes s: most subjects have
// single spaces only, and THREAD computes a base subject per message.
func needsSpaceFolding(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' || strings.Contains(s, "  ") {
		return true
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f' || c >= 0x80 {
			return true // and non-ASCII white space, which Fields knows
		}
	}
	return false
}

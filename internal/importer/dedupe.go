package importer

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/youju/youju/internal/message"
)

// IDKey is the key --dedupe compares: the Message-ID (RFC 5322 §3.6.4),
// the size and the Date field, hashed. Two messages with the same three
// are the same mail for an import, even when stored under two folders
// (Gmail's labels) or pulled from two sources. A message without a
// Message-ID has no key ("") and is only deduplicated by its bytes.
func IDKey(data []byte) string {
	h, err := message.ReadHeader(data, message.HeaderLimits{})
	if err != nil {
		return ""
	}
	var mid, date string
	for _, f := range h.Fields {
		switch {
		case mid == "" && strings.EqualFold(f.Name, "Message-ID"):
			mid = strings.TrimSpace(unfold(f.Value))
		case date == "" && strings.EqualFold(f.Name, "Date"):
			date = strings.Join(strings.Fields(unfold(f.Value)), " ")
		}
	}
	if mid == "" || mid == "<>" {
		return ""
	}
	sum := sha256.Sum256([]byte(mid + "\x00" + strconv.Itoa(len(data)) + "\x00" + date))
	return hex.EncodeToString(sum[:16])
}

// unfolder removes the line breaks of folded fields; built once (a
// Replacer per call cost more than the rest of IDKey).
var unfolder = strings.NewReplacer("\r\n", "", "\n", "")

func unfold(v []byte) string { return unfolder.Replace(string(v)) }

// HasID reports whether a message with id key id was imported, into any
// folder.
func (s *State) HasID(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}

// addID records the id key of an imported message (called with mu held
// or before the State is shared).
func (s *State) addID(sha, id string) {
	if id == "" {
		return
	}
	s.ids[id] = true
	s.idOf[sha] = id
}

// queuedID reports whether id is in the pending batch.
func (im *Importer) queuedID(id string) bool {
	if im.cur == nil {
		return false
	}
	for _, k := range im.cur.ids {
		if k == id {
			return true
		}
	}
	return false
}

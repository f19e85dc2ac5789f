package spam

import (
	"crypto/sha256"
	"encoding/base64"
)

// maxTrained bounds the per-account record of trained messages; past it
// a tenth of the entries (arbitrary ones) are forgotten, and those
// messages could be counted again — rare, and only once more.
const maxTrained = 50000

// trainKey names a message for the record of what was trained: a hash of
// its bytes (a copy or a moved message has the same bytes; the
// Message-ID would let a sender make its spam collide with a friend's
// mail).
func trainKey(msg []byte) string {
	h := sha256.Sum256(msg)
	return base64.RawStdEncoding.EncodeToString(h[:15])
}

// Learn trains msg for acct as spam or ham, once: a message already
// trained the same way is not counted again (a client that moves a
// message into Junk and also sets $Junk, or a message moved
// Junk→INBOX→Junk), and one trained the other way is first untrained
// (the user changed their mind: the last move counts, alone).
func (f *Filter) Learn(acct int64, msg []byte, spam bool) error {
	if f.State != nil {
		return f.learnShared(acct, msg, spam)
	}
	key := trainKey(msg)
	toks := Tokens(msg)
	f.learnMu.Lock()
	defer f.learnMu.Unlock()
	fm, err := f.model(acct)
	if err != nil {
		return err
	}
	fm.mu.RLock()
	prev, seen := fm.m.Trained[key]
	fm.mu.RUnlock()
	if seen && prev == spam {
		return nil
	}
	if seen {
		if err := f.Train(acct, toks, prev, true); err != nil {
			return err
		}
	}
	if err := f.Train(acct, toks, spam, false); err != nil {
		return err
	}
	fm.mu.Lock()
	defer fm.mu.Unlock()
	if fm.m.Trained == nil {
		fm.m.Trained = map[string]bool{}
	}
	fm.m.Trained[key] = spam
	if len(fm.m.Trained) > maxTrained {
		n := maxTrained / 10
		for k := range fm.m.Trained {
			if n == 0 {
				break
			}
			delete(fm.m.Trained, k)
			n--
		}
	}
	fm.dirty = true
	return nil
}

// Trained reports how acct's filter last trained msg: known is false if
// it did not (or forgot).
func (f *Filter) Trained(acct int64, msg []byte) (spam, known bool, err error) {
	if f.State != nil {
		return f.trainedShared(acct, msg)
	}
	fm, err := f.model(acct)
	if err != nil {
		return false, false, err
	}
	fm.mu.RLock()
	defer fm.mu.RUnlock()
	spam, known = fm.m.Trained[trainKey(msg)]
	return spam, known, nil
}

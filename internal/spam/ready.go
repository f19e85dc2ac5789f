package spam

// Ready reports whether Classify could say anything for acct: its own
// model or the global one has learnt a message of each class. A caller
// checks it before tokenizing a message, which costs more than the rest
// of the MX path's checks together while no one has trained the filter
// (a new server, a benchmark).
func (f *Filter) Ready(acct int64) (bool, error) {
	for _, a := range []int64{acct, Global} {
		if f.State == nil {
			break
		}
		// The shared models live in the store (another node may have
		// trained them): ask it for the class counts.
		ham, spam, err := f.classesShared(a)
		if err != nil || (ham >= 1 && spam >= 1) {
			return err == nil, err
		}
		if a == Global {
			return false, nil
		}
	}
	for _, a := range []int64{acct, Global} {
		fm, err := f.model(a)
		if err != nil {
			return false, err
		}
		fm.mu.RLock()
		ok := fm.m.Ham >= 1 && fm.m.Spam >= 1
		fm.mu.RUnlock()
		if ok || a == Global {
			return ok, nil
		}
	}
	return false, nil
}

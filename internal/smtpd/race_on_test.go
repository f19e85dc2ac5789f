//go:build race

package smtpd

// Under the race detector everything is ~10x slower: the concurrency test
// keeps its 20 senders but sends fewer messages each.
const concurrentMessages = 50

const raceEnabled = true

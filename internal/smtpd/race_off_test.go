//go:build !race

package smtpd

const concurrentMessages = 500

const raceEnabled = false

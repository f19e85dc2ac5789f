//go:build !race

package smtpd

const concurrentMessages = 500

package web

import (
	"crypto/sha256"

	"github.com/youju/youju/internal/store"
)

// apiTokenPrefix marks youju's admin API tokens, so that a secret scanner
// (or a person) can tell one in a leaked file or log.
const apiTokenPrefix = "yjat_"

// NewAPIToken returns a new admin API token: the secret (shown once to
// the admin) and the SHA-256 the store keeps.
func NewAPIToken() (secret string, hash [32]byte) {
	secret = apiTokenPrefix + randomToken()
	return secret, APITokenHash(secret)
}

// APITokenHash is what the store keeps of a token's secret.
func APITokenHash(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// apiTokensOf returns st as store.APITokens, looking through wrappers
// (store.Metered); nil if the backend has none.
func apiTokensOf(st any) store.APITokens { return storeAs[store.APITokens](st) }

// storeAs returns st as T, looking through wrappers (store.Metered) that
// hide an optional interface of the backend; the zero T if none has it.
func storeAs[T any](st any) T {
	for st != nil {
		if x, ok := st.(T); ok {
			return x
		}
		u, ok := st.(interface{ Unwrap() store.Store })
		if !ok {
			break
		}
		st = u.Unwrap()
	}
	var zero T
	return zero
}

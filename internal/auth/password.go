package auth

import (
	_ "embed"
	"errors"
	"strings"
	"sync"
	"unicode/utf8"
)

// Password rules (NIST SP 800-63B section 3.1.1.2): a length floor and
// ceiling, no composition rules, and no password that is common, breached,
// repetitive, sequential or made of the account's own name.
const (
	MinPasswordLength = 12
	MaxPasswordLength = 128
)

// Errors of the password rules; their messages are shown to the user.
var (
	ErrPasswordShort  = errors.New("the password must have at least 12 characters")
	ErrPasswordLong   = errors.New("the password must have at most 128 characters")
	ErrPasswordCommon = errors.New("this password is too common or too easy to guess (it is in lists of breached passwords, repeats or runs characters, or contains the username); choose another")
)

// commonPasswords is the common-password list of zxcvbn-ts
// (@zxcvbn-ts/language-common 4.1.3, passwords.json: 49,233 passwords seen
// most often in breaches, lower-cased), MIT licence: see
// common-passwords.LICENSE.
//
//go:embed common-passwords.txt
var commonPasswords string

var (
	commonOnce sync.Once
	common     map[string]struct{}
)

func isCommon(s string) bool {
	commonOnce.Do(func() {
		common = make(map[string]struct{}, 50000)
		for p := range strings.SplitSeq(commonPasswords, "\n") {
			if p != "" {
				common[p] = struct{}{}
			}
		}
	})
	_, ok := common[s]
	return ok
}

// CheckPassword applies the password rules to a new password for the
// account username.
func CheckPassword(password, username string) error {
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLength {
		return ErrPasswordShort
	}
	if n > MaxPasswordLength {
		return ErrPasswordLong
	}
	lower := strings.ToLower(password)
	const affixes = "0123456789!@#$%^&*()._-+=? "
	if isCommon(lower) || isCommon(strings.TrimRight(lower, affixes)) || isCommon(strings.TrimLeft(lower, affixes)) ||
		isCommon(strings.Trim(lower, affixes)) {
		return ErrPasswordCommon
	}
	if repetitive(lower) || sequential(lower) {
		return ErrPasswordCommon
	}
	for _, ctx := range []string{strings.ToLower(username), "hestia"} {
		if len(ctx) >= 4 && strings.Contains(lower, ctx) {
			return ErrPasswordCommon
		}
	}
	return nil
}

// repetitive reports whether s is one short unit (up to 4 characters)
// repeated, such as "aaaaaaaaaaaa" or "abcabcabcabc".
func repetitive(s string) bool {
	r := []rune(s)
	for unit := 1; unit <= 4 && unit < len(r); unit++ {
		if len(r)%unit != 0 {
			continue
		}
		same := true
		for i := unit; i < len(r) && same; i++ {
			same = r[i] == r[i-unit]
		}
		if same {
			return true
		}
	}
	return false
}

// sequential reports whether s runs by a constant step of one, up or down
// ("123456789012" wraps: 0 follows 9), such as "abcdefghijkl".
func sequential(s string) bool {
	r := []rune(s)
	for _, step := range []rune{1, -1} {
		run := true
		for i := 1; i < len(r) && run; i++ {
			d := r[i] - r[i-1]
			run = d == step || (r[i] == '0' && r[i-1] == '9' && step == 1) || (r[i] == '9' && r[i-1] == '0' && step == -1)
		}
		if run {
			return true
		}
	}
	return false
}

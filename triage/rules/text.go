package rules

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Token is one word or number of a message, normalised (lower case, no accents, no apostrophes).
type Token struct {
	Text       string
	Start, End int  // byte offsets in the original text
	Clause     int  // sentence-level clause (split on . ; : ! ? and new lines)
	CommaAfter bool // a comma directly follows the token
}

// fold lower-cases r and removes a Latin accent.
func fold(r rune) rune {
	r = unicode.ToLower(r)
	switch r {
	case 'á', 'à', 'ä', 'â', 'ã':
		return 'a'
	case 'é', 'è', 'ë', 'ê':
		return 'e'
	case 'í', 'ì', 'ï', 'î':
		return 'i'
	case 'ó', 'ò', 'ö', 'ô', 'õ':
		return 'o'
	case 'ú', 'ù', 'ü', 'û':
		return 'u'
	case 'ñ':
		return 'n'
	case 'ç':
		return 'c'
	}
	return r
}

// Fold returns s lower-cased and without accents, the form patterns are matched against.
func Fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(fold(r))
	}
	return b.String()
}

func isApostrophe(r rune) bool { return r == '\'' || r == '’' || r == '‘' || r == '`' }

func isSentenceBreak(r rune) bool {
	return r == '.' || r == ';' || r == ':' || r == '!' || r == '?' || r == '\n' || r == '¿' || r == '¡'
}

// Tokenize splits text into tokens. Apostrophes inside a word are dropped ("can't" is "cant"),
// a '.' or ',' between digits stays in a number ("39.5"), other punctuation separates words.
func Tokenize(text string, dst []Token) []Token {
	var b []byte
	var buf [64]byte
	clause := 0
	start := -1
	flush := func(end int) {
		if start >= 0 {
			dst = append(dst, Token{Text: string(b), Start: start, End: end, Clause: clause})
			start = -1
		}
	}
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if start < 0 {
				start = i
				b = buf[:0]
			}
			b = utf8.AppendRune(b, fold(r))
		case isApostrophe(r) && start >= 0 && i+size < len(text) && isLetterAt(text, i+size):
			// inside a word: drop it
		case (r == '.' || r == ',') && start >= 0 && isDigitByte(text, i-1) && isDigitByte(text, i+1):
			b = append(b, '.')
		default:
			flush(i)
			if isSentenceBreak(r) {
				clause++
			} else if r == ',' && len(dst) > 0 {
				dst[len(dst)-1].CommaAfter = true
			}
		}
		i += size
	}
	flush(len(text))
	return dst
}

func isLetterAt(s string, i int) bool {
	r, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.IsLetter(r)
}

func isDigitByte(s string, i int) bool { return i >= 0 && i < len(s) && s[i] >= '0' && s[i] <= '9' }

// phraseWords normalises a phrase from the rule file the way Tokenize normalises a message.
func phraseWords(p string) []string {
	var out []string
	for _, f := range strings.Fields(p) {
		if f == "*" {
			out = append(out, f)
			continue
		}
		prefix := strings.HasSuffix(f, "*")
		toks := Tokenize(strings.TrimSuffix(f, "*"), nil)
		for i, t := range toks {
			w := t.Text
			if prefix && i == len(toks)-1 {
				w += "*"
			}
			out = append(out, w)
		}
	}
	return out
}

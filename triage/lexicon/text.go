package lexicon

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Token is one unit of a message: a word of a script written with spaces, or one character
// of Chinese, Japanese or Korean (written without spaces, or with particles attached), or a
// number. Text is folded (Fold).
type Token struct {
	Text       string
	Start, End int  // byte offsets in the original text
	Clause     int  // sentence-level clause: split at . ; : ! ? new lines and their CJK forms
	Char       bool // a CJK or Hangul character: windows count it as half a word
	Number     bool // digits, possibly with one decimal point
	CommaAfter bool // a comma follows ("No, I have chest pain": the "no" answers, it denies nothing)
}

// Fold is the form phrases and messages are compared in: Unicode compatibility forms (full
// width), lower case, no accents or diacritics (Vietnamese "đau ngực" is "dau nguc"),
// Arabic letters unified (hamza forms, ta marbuta, alef maqsura; no tashkeel or tatweel),
// Arabic-Indic and other digits as ASCII digits.
func Fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFKD.String(s) {
		if r2, ok := foldRune(r); ok {
			b.WriteRune(r2)
		}
	}
	return norm.NFC.String(b.String())
}

// foldRune folds one decomposed rune; ok false drops it (a combining mark).
func foldRune(r rune) (rune, bool) {
	if unicode.Is(unicode.Mn, r) {
		return 0, false // accents, tones, tashkeel
	}
	switch r {
	case 'đ', 'Đ':
		return 'd', true
	case 'ø', 'Ø':
		return 'o', true
	case 'ł', 'Ł':
		return 'l', true
	case 'ß':
		return 's', true
	case 'æ', 'Æ':
		return 'a', true
	case 'œ', 'Œ':
		return 'o', true
	case 'ı':
		return 'i', true
	case '’', '‘', '`', 'ʼ':
		return '\'', true
	// Arabic: the alef forms, ta marbuta, alef maqsura, tatweel; Persian yeh and kaf.
	case 'أ', 'إ', 'آ', 'ٱ':
		return 'ا', true
	case 'ة':
		return 'ه', true
	case 'ى', 'ی':
		return 'ي', true
	case 'ک':
		return 'ك', true
	case 'ـ':
		return 0, false
	case 'ё':
		return 'е', true
	}
	if unicode.IsDigit(r) && (r < '0' || r > '9') {
		if d := digitValue(r); d >= 0 {
			return rune('0' + d), true
		}
	}
	return unicode.ToLower(r), true
}

// digitValue is the value of a decimal digit of any script (Arabic-Indic, Persian, Devanagari...).
func digitValue(r rune) int {
	for _, zero := range []rune{0x0660, 0x06F0, 0x0966, 0x09E6, 0xFF10} {
		if r >= zero && r <= zero+9 {
			return int(r - zero)
		}
	}
	return -1
}

// isChar reports whether r is written without spaces between words: Han, Hiragana,
// Katakana and Hangul. Each such character is a token.
func isChar(r rune) bool {
	return unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hangul, r) ||
		unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r)
}

func isSentenceBreak(r rune) bool {
	switch r {
	case '.', ';', ':', '!', '?', '\n', '¿', '¡', '。', '！', '？', '；', '：', '؟', '؛', '…':
		return true
	}
	return false
}

func isApostrophe(r rune) bool { return r == '\'' || r == '’' || r == '‘' || r == '`' }

// Tokenize splits text into tokens (appended to dst). Apostrophes inside a word are dropped
// ("can't" is "cant"); a '.' or ',' between digits stays in a number ("39,5" is "39.5");
// other punctuation separates words; CJK and Hangul characters are one token each.
func Tokenize(text string, dst []Token) []Token {
	clause := 0
	start := -1
	var b []byte
	number := true
	flush := func(end int) {
		if start >= 0 {
			dst = append(dst, Token{Text: string(b), Start: start, End: end, Clause: clause, Number: number})
			start = -1
		}
	}
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		switch {
		case isChar(r):
			flush(i)
			f := text[i : i+size]
			if !unicode.Is(unicode.Hangul, r) && !unicode.Is(unicode.Han, r) || r >= 0xF900 && r <= 0xFAFF {
				f = Fold(f) // kana and compatibility ideographs change under NFKD
			}
			dst = append(dst, Token{Text: f, Start: i, End: i + size, Clause: clause, Char: true})
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			if start < 0 {
				start, b, number = i, b[:0], true
			}
			if r < utf8.RuneSelf { // ASCII: nothing to decompose
				f, _ := foldRune(r)
				b = append(b, byte(f))
				number = number && f >= '0' && f <= '9'
				break
			}
			for _, fr := range norm.NFKD.String(string(r)) {
				if f, ok := foldRune(fr); ok {
					b = utf8.AppendRune(b, f)
					number = number && f >= '0' && f <= '9' || number && f == '.'
				}
			}
		case isApostrophe(r) && start >= 0 && i+size < len(text) && isLetterAt(text, i+size):
			// inside a word: dropped
		case (r == '.' || r == ',' || r == '٫') && start >= 0 && number && digitAt(text, i+size):
			b = append(b, '.')
		default:
			flush(i)
			if isSentenceBreak(r) {
				clause++
			} else if (r == ',' || r == '，' || r == '、' || r == '،') && len(dst) > 0 {
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

func digitAt(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.IsDigit(r)
}

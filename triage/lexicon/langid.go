package lexicon

import (
	mathbits "math/bits"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/abadojack/whatlanggo"
)

// Identification is what Identify says of a message's language.
type Identification struct {
	// Lang is the language code: one with a lexicon, or another ISO 639-1 code (or "und") for a
	// language Portico cannot triage.
	Lang string
	// Served reports whether Lang has a lexicon; Certain whether the evidence is clear enough
	// to read the message with that lexicon only (and English, for code-switching).
	Served, Certain bool
	// Others are further served languages with evidence in the message (a message mixing two).
	Others []string
	// Why says how it was decided, for the reasons shown to clinicians.
	Why string
}

// Languages that share a script with no lexicon here are told apart from those with one by
// the script's letters: Japanese kana; Ukrainian і ї є ґ; Persian and Urdu letters.
var (
	ukrainian = "іїєґ"
	persian   = "پچژگکیےٹڈڑں"
)

// Identify tells the language of text: by script for the scripts one served language uses
// (Hangul: Korean; Han: Chinese; Cyrillic: Russian; Arabic: Arabic), and for Latin script by
// the stopwords and lexicon words of each served language, Vietnamese also by its letters.
// Latin text that no served language explains is checked against whatlanggo's trigram models,
// which know many more languages: a clear other language is reported as not served. See
// docs/triage.md, "Language", for how this was chosen by measurement.
func (l *Lexicons) Identify(text string) Identification {
	var letters, latin, han, kana, hangul, cyr, arab, viet, other int
	var uk, fa int
	for _, r := range text {
		if !unicode.IsLetter(r) {
			continue
		}
		letters++
		switch {
		case unicode.Is(unicode.Hangul, r):
			hangul += 2
		case unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r):
			kana += 2
		case unicode.Is(unicode.Han, r):
			han += 2
		case unicode.Is(unicode.Cyrillic, r):
			cyr++
			if strings.ContainsRune(ukrainian, unicode.ToLower(r)) {
				uk++
			}
		case unicode.Is(unicode.Arabic, r):
			arab++
			if strings.ContainsRune(persian, r) {
				fa++
			}
		case unicode.Is(unicode.Latin, r):
			latin++
			if strings.ContainsRune("ăâđêôơưĂÂĐÊÔƠƯ", r) || isVietTone(r) {
				viet++
			}
		default:
			other++
		}
	}
	id := Identification{Lang: "und"}
	if letters == 0 {
		id.Why = "no letters"
		return id
	}
	top := max(latin, han+kana, hangul, cyr, arab, other)
	switch {
	case top == hangul:
		return l.served("ko", true, "Hangul script")
	case top == han+kana && kana > 0 && kana*5 >= han:
		return Identification{Lang: "ja", Why: "Japanese kana"}
	case top == han+kana:
		return l.served("zh", true, "Han script")
	case top == cyr && uk*20 >= cyr && uk > 0:
		return Identification{Lang: "uk", Why: "Ukrainian letters"}
	case top == cyr:
		return l.served("ru", true, "Cyrillic script")
	case top == arab && fa*10 >= arab && fa > 0:
		return Identification{Lang: "fa", Why: "Persian or Urdu letters"}
	case top == arab:
		return l.served("ar", true, "Arabic script")
	case top == other:
		return Identification{Lang: "und", Why: "a script without a lexicon"}
	}
	return l.latin(text, viet)
}

func isVietTone(r rune) bool {
	// Latin letters with a dot below or a hook above exist in no other served language.
	switch unicode.ToLower(r) {
	case 'ạ', 'ả', 'ẹ', 'ẻ', 'ẽ', 'ị', 'ỉ', 'ọ', 'ỏ', 'ụ', 'ủ', 'ỳ', 'ỵ', 'ỷ', 'ỹ', 'ấ', 'ầ', 'ẩ', 'ẫ', 'ậ', 'ắ', 'ằ', 'ẳ', 'ẵ', 'ặ',
		'ế', 'ề', 'ể', 'ễ', 'ệ', 'ố', 'ồ', 'ổ', 'ỗ', 'ộ', 'ớ', 'ờ', 'ở', 'ỡ', 'ợ', 'ứ', 'ừ', 'ử', 'ữ', 'ự':
		return true
	}
	return false
}

func (l *Lexicons) served(lang string, certain bool, why string) Identification {
	_, ok := l.Files[lang]
	return Identification{Lang: lang, Served: ok, Certain: certain && ok, Why: why}
}

// latin identifies Latin-script text: each served language scores its stopwords and the
// words of its lexicon phrases found in the text.
func (l *Lexicons) latin(text string, viet int) Identification {
	toks := Tokenize(text, nil)
	words := 0
	for _, t := range toks {
		if !t.Number {
			words++
		}
	}
	// A point for each stopword of a language, half a point for each word of its phrases:
	// content words tell languages apart where stopwords are shared ("no" is English, Spanish
	// and Portuguese). Latin words of any lexicon count: also Russian translit, Arabizi.
	scores := map[string]float64{}
	bits := make([]langBits, len(toks)) // each token's languages
	for i, t := range toks {
		b := l.wordLangs[t.Text]
		bits[i] = b
		for s := b.stop; s != 0; s &= s - 1 {
			scores[l.langOrder[mathbits.TrailingZeros64(s)]]++
		}
		for v := b.vocab; v != 0; v &= v - 1 {
			scores[l.langOrder[mathbits.TrailingZeros64(v)]] += 0.5
		}
	}
	if viet > 0 {
		scores["vi"] += float64(viet) * 2
	}
	type ls struct {
		lang  string
		score float64
	}
	var ranked []ls
	for k, v := range scores {
		if v > 0 {
			ranked = append(ranked, ls{k, v})
		}
	}
	sort.Slice(ranked, func(i, j int) bool {
		if ranked[i].score != ranked[j].score {
			return ranked[i].score > ranked[j].score
		}
		return ranked[i].lang < ranked[j].lang
	})
	known := 0
	if len(ranked) > 0 {
		var bit uint64
		if k := slices.Index(l.langOrder, ranked[0].lang); k >= 0 {
			bit = 1 << k
		}
		for i, t := range toks {
			if (bits[i].stop|bits[i].vocab)&bit != 0 || t.Number {
				known++
			}
		}
	}
	// Clear: the best language explains a good share of the words, well ahead of the next.
	if len(ranked) > 0 {
		best := ranked[0]
		second := 0.0
		if len(ranked) > 1 {
			second = ranked[1].score
		}
		id := Identification{Lang: best.lang, Served: true}
		for _, r := range ranked[1:] {
			if r.score >= best.score*0.5 && r.score >= 2 {
				id.Others = append(id.Others, r.lang)
			}
		}
		coverage := float64(known) / float64(max(words, 1))
		switch {
		case best.score >= 2 && best.score >= 1.5*second && coverage >= 0.25:
			id.Certain, id.Why = true, "its words"
			return id
		case words <= 3 && coverage >= 0.5:
			id.Certain, id.Why = true, "a short message of known words"
			return id
		}
		id.Why = "words of several languages, or few known words"
		// Not clear from the lexicons: if trigram models clearly see a language with no
		// lexicon, say so.
		if other, ok := otherLatin(text); ok && coverage < 0.5 {
			return Identification{Lang: other, Why: "trigram models: a language without a lexicon"}
		}
		return id
	}
	if other, ok := otherLatin(text); ok {
		return Identification{Lang: other, Why: "trigram models: a language without a lexicon"}
	}
	return Identification{Lang: "und", Why: "no known words"}
}

// otherLatin asks whatlanggo whether text is clearly a Latin-script language Portico has no
// lexicon for.
func otherLatin(text string) (string, bool) {
	info := whatlanggo.Detect(text)
	code := info.Lang.Iso6391()
	if code == "" || info.Confidence < 0.5 {
		return "", false
	}
	switch code {
	case "en", "es", "pt", "fr", "vi", "tl", "ht":
		return "", false
	}
	return code, true
}

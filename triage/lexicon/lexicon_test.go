package lexicon_test

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/portico-health/portico/triage/evaluation"
	"github.com/portico-health/portico/triage/lexicon"
)

func TestShippedLexicons(t *testing.T) {
	l := lexicon.Default()
	if got := strings.Join(l.Languages(), " "); got != "ar en es fr ht ko pt ru tl vi zh" {
		t.Errorf("languages %s", got)
	}
	for lang, f := range l.Files {
		for _, c := range l.Inventory.Concepts {
			if _, ok := f.Concepts[c.ID]; !ok {
				t.Errorf("%s: concept %s missing (an empty list says the language has no way to say it)", lang, c.ID)
			}
		}
		for _, c := range l.Inventory.Cues {
			if len(f.Cues[c.ID]) == 0 {
				t.Errorf("%s: cue list %s empty", lang, c.ID)
			}
		}
		if len(f.Stopwords) < 30 {
			t.Errorf("%s: %d stopwords", lang, len(f.Stopwords))
		}
	}
}

func TestLoadProblems(t *testing.T) {
	concepts, _ := os.ReadFile("concepts.json")
	_, err := lexicon.LoadFS(fstest.MapFS{
		"concepts.json": {Data: concepts},
		"xx.json":       {Data: []byte(`{"language":"yy","concepts":{"nope":["a"],"chest_pain":["  * "]},"cues":{"maybe":["x"]},"units":{"parsec":["pc"]}}`)},
	})
	for _, want := range []string{`language "yy"`, `unknown concept "nope"`, "empty phrase", `unknown cue list "maybe"`, `unknown unit kind "parsec"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %s: %v", want, err)
		}
	}
}

// read finds the concepts of an English text, as "concept" or "concept[modifier]".
func read(l *lexicon.Lexicons, text string, langs ...string) string {
	if len(langs) == 0 {
		langs = []string{"en"}
	}
	r := l.Read(text, langs)
	var out []string
	for _, f := range r.Findings {
		s := f.Concept
		if m := f.Modifier(); m != "" {
			s += "[" + m + "]"
		}
		out = append(out, s)
	}
	for _, q := range r.Quantities {
		out = append(out, fmt.Sprintf("%s=%g", q.Kind, math.Round(q.Value*1000)/1000))
	}
	return strings.Join(out, " ")
}

func has(got, want string) bool {
	for _, g := range strings.Fields(got) {
		if g == want {
			return true
		}
	}
	return false
}

// TestContext: the ConText modifiers, on sentences of the kinds that a phrase list misreads.
func TestContext(t *testing.T) {
	l := lexicon.Default()
	for _, tc := range []struct {
		text string
		want []string // each must be read
		not  []string // none may be read
	}{
		{"I have chest pain", []string{"chest_pain"}, nil},
		{"no chest pain, just a refill", []string{"chest_pain[negated]"}, []string{"chest_pain"}},
		{"No, I have chest pain since this morning", []string{"chest_pain"}, nil},
		{"I had chest pain last year and the cardiologist cleared me", []string{"chest_pain[historical]"}, []string{"chest_pain"}},
		{"my father died of a heart attack", nil, []string{"chest_pain"}},
		{"what are the warning signs of a stroke?", nil, []string{"face_droop", "one_side_weakness", "speech_trouble"}},
		{"I can't breathe", []string{"dyspnea_severe"}, nil},
		{"I don't want to be here anymore", []string{"suicidal"}, nil},
		{"I am not suicidal, just sad", []string{"suicidal[negated]"}, []string{"suicidal"}},
	} {
		got := read(l, tc.text)
		for _, w := range tc.want {
			if !has(got, w) && !(w == "dyspnea_severe" && has(got, "dyspnea")) {
				t.Errorf("%q: want %s, read %q", tc.text, w, got)
			}
		}
		for _, n := range tc.not {
			if has(got, n) {
				t.Errorf("%q: must not read %s, read %q", tc.text, n, got)
			}
		}
	}
}

func TestQuantities(t *testing.T) {
	l := lexicon.Default()
	for text, want := range map[string]string{
		"my baby is 3 weeks old and has a fever of 100.8": "age_days=21",
		"temperature 39.5 since yesterday":                "temperature_c=39.5",
		"fever 103F":                                      "temperature_c=39.444",
		"my BP was 182/121 this morning":                  "bp_systolic=182",
		"pain is 9/10":                                    "pain_score=9",
		"she took 30 pills an hour ago":                   "pills=30",
		"I'm 35 weeks pregnant":                           "gestation_week=35",
		"sugar is 450":                                    "glucose_mgdl=450",
		"mi bebé de 2 meses tiene fiebre":                 "age_days=60.8",
		"宝宝3个月大，发烧38.5度":                                  "age_days=91.2",
		"حرارته ٣٨.٥":                                     "temperature_c=38.5",
		"INR was 6.2 today":                               "inr=6.2",
		"my glucose meter says 3.1 mmol":                  "glucose_mgdl=55.8",
		"fever for 4 days":                                "duration_h=96",
		"my blood pressure was 162 over 112 at home":      "bp_systolic=162",
		"قست الضغط ١٦٠ على ١١٠":                           "bp_systolic=160",
		"ma tension est à 17 sur 11":                      "bp_systolic=170",
	} {
		langs := []string{"en", "es", "zh", "ar", "fr"}
		if got := read(l, text, langs...); !has(got, want) {
			t.Errorf("%q: want %s, read %q", text, want, got)
		}
	}
}

func TestIdentify(t *testing.T) {
	l := lexicon.Default()
	for text, want := range map[string]string{
		"I have had chest pain since this morning and I am scared": "en",
		"refill pls": "en",
		"Hola doctor, tengo dolor de pecho desde ayer":                     "es",
		"Bonjour docteur, j'ai mal à la poitrine depuis ce matin":          "fr",
		"Olá doutor, estou com dor no peito desde ontem":                   "pt",
		"toi bi dau nguc tu sang nay":                                      "vi",
		"我胸口很痛":                                                            "zh",
		"가슴이 너무 아파요":                                                       "ko",
		"У меня болит грудь":                                               "ru",
		"عندي ألم في الصدر":                                                "ar",
		"Mwen gen doulè nan pwatrin mwen depi maten an":                    "ht",
		"Masakit ang dibdib ko simula kaninang umaga":                      "tl",
		"Guten Tag, ich habe seit heute Morgen Brustschmerzen und Atemnot": "de",
		"こんにちは、胸が痛いです":                                                     "ja",
	} {
		id := l.Identify(text)
		if id.Lang != want {
			t.Errorf("%q: %s (%s), want %s", text, id.Lang, id.Why, want)
		}
	}
}

// TestNoLongPhraseOnlyInSealed: a long lexicon phrase (6 words or more; 10 characters or more in
// Chinese and Korean) that matches a message of the sealed split and no message of the
// development split looks copied from the sealed split, which no writer may read. Short
// phrases are left out: the everyday words of a concept naturally turn up in one split only.
// Only the phrases are printed, never a message.
func TestNoLongPhraseOnlyInSealed(t *testing.T) {
	l := lexicon.Default()
	hits := func(split string) map[string]int {
		rows, err := evaluation.Load("../../testdata/triage/corpus/" + split + ".jsonl")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, r := range rows {
			for p, n := range l.PhraseHits(r.Text+"\n"+r.Topic, l.Languages()) {
				out[p] = n
			}
		}
		return out
	}
	// Everyday sentences their writers wrote without the corpus (the lexicon writers were never
	// given it), which happen to be said in the sealed split only.
	everyday := map[string]bool{
		"fr dysuria: ça brûle quand je fais pipi":             true, // "it burns when I pee"
		"ht headache: tèt mwen ap fè m mal":                   true, // "my head hurts"
		"ht medication_question: èske m ka pran yon randevou": true, // "can I get an appointment"
		"ht psychosis: l ap pale pou kont li":                 true, // "he talks to himself"
	}
	dev, sealed := hits("dev"), hits("sealed")
	var only []string
	for p, n := range sealed {
		cjk := strings.HasPrefix(p, "zh ") || strings.HasPrefix(p, "ko ")
		if _, ok := dev[p]; !ok && !everyday[p] && (n >= 6 && !cjk || n >= 10 && cjk) {
			only = append(only, p)
		}
	}
	slices.Sort(only)
	t.Logf("%d phrases match the development split, %d the sealed split; long phrases only in the sealed split: %d", len(dev), len(sealed), len(only))
	for _, p := range only {
		t.Errorf("a long phrase matches the sealed split only: %s", p)
	}
}

// TestHeartRate: a pulse is read after its label or before "bpm" in each language's words,
// and a number that is something else (an hour, a blood pressure, an oximeter) is not one
// (sentences written for this test).
func TestHeartRate(t *testing.T) {
	l := lexicon.Default()
	for _, tc := range []struct {
		text string
		want []string
		not  []string
	}{
		{"pulse 190 and I'm dizzy", []string{"heart_rate=190"}, nil},
		{"Resident: BP 82/50, HR 118, drowsy", []string{"heart_rate=118", "bp_systolic=82"}, []string{"heart_rate=50", "duration_h=50"}},
		{"Temp: 38.9 HR: 118", []string{"temperature_c=38.9", "heart_rate=118"}, []string{"duration_h=38.9"}},
		{"temp 38.9 HR 118", []string{"temperature_c=38.9", "heart_rate=118"}, nil},
		{"my watch says 165 bpm while sitting", []string{"heart_rate=165"}, nil},
		{"my heart rate is 45 this morning", []string{"heart_rate=45"}, nil},
		{"tengo el pulso en 38 y me mareo", []string{"heart_rate=38"}, nil},
		{"mi reloj marca 180 latidos por minuto", []string{"heart_rate=180"}, nil},
		{"手表显示心率180", []string{"heart_rate=180"}, nil},
		{"맥박이 38이고 어지러워요", []string{"heart_rate=38"}, nil},
		{"Пульс 120 уд/мин", []string{"heart_rate=120"}, nil},
		{"والنبض 120", []string{"heart_rate=120"}, nil},
		{"tension 8/5, pouls 118", []string{"bp_systolic=80", "heart_rate=118"}, nil},
		{"the drive took 2 hr 30 min", []string{"duration_h=2"}, []string{"heart_rate=30"}},
		{"pulse ox says 97", nil, []string{"heart_rate=97"}},
		{"my HR department needs the form by the 25th", nil, []string{"heart_rate=25"}},
		{"BP 128/82 this morning", []string{"bp_systolic=128"}, []string{"heart_rate=82"}},
		{"my watch says my temp is 38", nil, []string{"heart_rate=38"}},
	} {
		got := read(l, tc.text, "en", "es", "fr", "zh", "ko", "ru", "ar")
		for _, w := range tc.want {
			if !has(got, w) {
				t.Errorf("%q: want %s, read %q", tc.text, w, got)
			}
		}
		for _, n := range tc.not {
			if has(got, n) {
				t.Errorf("%q: must not read %s, read %q", tc.text, n, got)
			}
		}
	}
}

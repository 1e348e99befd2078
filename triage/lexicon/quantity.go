package lexicon

import (
	"strconv"
	"strings"
)

// Quantity kinds.
const (
	QTemperatureC = "temperature_c"  // body temperature, in degrees Celsius
	QAgeDays      = "age_days"       // the patient's age, in days
	QGestationWk  = "gestation_week" // weeks of pregnancy
	QSystolic     = "bp_systolic"    // mmHg
	QDiastolic    = "bp_diastolic"   // mmHg
	QGlucose      = "glucose_mgdl"   // blood glucose, mg/dL (mmol/L converted)
	QINR          = "inr"
	QPills        = "pills"      // a count of pills or tablets
	QPainScore    = "pain_score" // 0-10
	QDurationHrs  = "duration_h" // how long, in hours ("for 3 days")
	QHeartRate    = "heart_rate" // pulse, beats per minute ("pulse 190", "HR 38", "150 bpm")
)

// Quantity is a number a message gives, with what it measures.
type Quantity struct {
	Kind       string
	Value      float64
	Start, End int // tokens
	Text       string
}

// Values of the units, in days (ages) or hours (durations).
var unitDays = map[string]float64{"day": 1, "week": 7, "month": 30.4, "year": 365.25}
var unitHours = map[string]float64{"minute": 1.0 / 60, "hour": 1, "day": 24, "week": 168, "month": 730, "year": 8766}

// num is a number found at tokens [start, end).
type num struct {
	v          float64
	start, end int
	suffix     string // letters glued to the digits ("103f", "10mg")
}

// Values of Chinese numeral characters.
var hanDigits = map[string]float64{"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6,
	"七": 7, "八": 8, "九": 9, "十": 10, "百": 100, "半": 0.5}

// numbers finds the numbers of a token list: digits (a unit glued on is kept as suffix),
// number words of every lexicon, and runs of Chinese numerals (三十 = 30, 十五 = 15).
func (l *Lexicons) findNumbers(toks []Token) []num {
	var out []num
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.Char {
			if _, ok := hanDigits[t.Text]; ok {
				j, v := i, 0.0
				cur := 0.0
				for j < len(toks) && toks[j].Char {
					d, ok := hanDigits[toks[j].Text]
					if !ok {
						break
					}
					switch d {
					case 10, 100:
						if cur == 0 {
							cur = 1
						}
						v += cur * d
						cur = 0
					default:
						cur = cur*10 + d
						if d == 0.5 {
							cur = 0.5
						}
					}
					j++
				}
				v += cur
				out = append(out, num{v: v, start: i, end: j})
				i = j - 1
			}
			continue
		}
		if v, ok := l.numbers[t.Text]; ok {
			out = append(out, num{v: v, start: i, end: i + 1})
			continue
		}
		end := 0
		for end < len(t.Text) && (t.Text[end] >= '0' && t.Text[end] <= '9' || t.Text[end] == '.') {
			end++
		}
		if end == 0 {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(t.Text[:end], "."), 64)
		if err != nil {
			continue
		}
		out = append(out, num{v: v, start: i, end: i + 1, suffix: t.Text[end:]})
	}
	return out
}

// unitAt is the unit that starts at token i (a unit word or phrase of any lexicon): its kind
// and its end.
func (l *Lexicons) unitAt(toks []Token, i int) (kind string, end int) {
	if i >= len(toks) {
		return "", i
	}
	for _, ph := range l.unitPhr {
		ws, k := ph[:len(ph)-1], ph[len(ph)-1]
		if wordsAt(toks, i, ws) {
			return k, i + len(ws)
		}
	}
	if k, ok := l.units[toks[i].Text]; ok {
		return k, i + 1
	}
	return "", i
}

// between is the raw text between tokens a and b (b > a).
func between(text string, toks []Token, a, b int) string {
	if a < 0 || b >= len(toks) || b <= a {
		return ""
	}
	return text[toks[a].End:toks[b].Start]
}

// near reports whether a finding of one of the concepts (affirmed or not) lies within n words
// of tokens [start, end) in the same clause (a CJK or Hangul character counts half a word).
func near(fs []Finding, toks []Token, start, end, n int, concepts ...string) bool {
	gap := func(from, to int) int { // tokens [from, to) in half-words
		d := 0
		for i := from; i < to; i++ {
			if toks[i].Char {
				d++
			} else {
				d += 2
			}
		}
		return d
	}
	for _, f := range fs {
		for _, c := range concepts {
			if f.Concept != c || toks[f.Start].Clause != toks[start].Clause {
				continue
			}
			switch {
			case f.Start < end && start < f.End:
				return true
			case f.End <= start && gap(f.End, start) <= 2*n, f.Start >= end && gap(end, f.Start) <= 2*n:
				return true
			}
		}
	}
	return false
}

func hasConcept(fs []Finding, c string) bool {
	for _, f := range fs {
		if f.Concept == c && f.Affirmed() {
			return true
		}
	}
	return false
}

// quantities reads the quantities of a message from its numbers, the units after them and the
// concepts around them (toks and fs are the message's tokens and findings).
func (l *Lexicons) quantities(text string, toks []Token, fs []Finding) []Quantity {
	var out []Quantity
	add := func(kind string, v float64, start, end int) {
		out = append(out, Quantity{Kind: kind, Value: v, Start: start, End: end, Text: span(text, toks, start, end)})
	}
	nums := l.findNumbers(toks)
	pregnant := hasConcept(fs, "pregnancy") || hasConcept(fs, "contractions") || hasConcept(fs, "water_broke") ||
		hasConcept(fs, "fetal_movement_decreased")
	skip := -1 // the second number of a pair already read (the 50 of 82/50)
	for k, n := range nums {
		if k == skip {
			continue
		}
		unit, uend := l.unitAt(toks, n.end)
		suffix := n.suffix
		if unit == "" && suffix != "" {
			if u, ok := l.units[suffix]; ok {
				unit, uend = u, n.end
			}
		}
		// "38.9 HR 118": a pulse's label after a number is not the number's unit ("hr" is
		// also hours).
		if unit != "" && unit != "bpm" && l.pulseLabelAt(fs, toks, nums, n.end) {
			unit, uend = "", n.end
		}
		sep := between(text, toks, n.end-1, n.end)
		// Blood pressure: 180/120; or two numbers one short word apart beside a blood
		// pressure ("160 over 110", "160 sur 110", "١٦٠ على ١١٠", "16 por 11", "160 x 110").
		slash := k+1 < len(nums) && nums[k+1].start == n.end && strings.TrimSpace(sep) == "/"
		worded := !slash && unit == "" && k+1 < len(nums) && nums[k+1].start-n.end <= 1 &&
			len([]rune(between(text, toks, n.end-1, nums[k+1].start))) <= 8 && near(fs, toks, n.start, n.end, 6, "blood_pressure")
		if slash || worded {
			sys, dia := n.v, nums[k+1].v
			if slash && dia == 10 && sys <= 10 {
				add(QPainScore, sys, n.start, nums[k+1].end)
				skip = k + 1
				continue
			}
			// In centimetres of mercury, as French and Haitian writers give it: "tension 8/5"
			// is 80/50, "16/10" is 160/100.
			if sys >= 7 && sys <= 26 && dia >= 4 && dia <= 16 && sys > dia && near(fs, toks, n.start, n.end, 4, "blood_pressure") {
				sys, dia = sys*10, dia*10
			}
			if sys >= 70 && sys <= 300 && dia >= 30 && dia <= 200 && sys > dia {
				add(QSystolic, sys, n.start, nums[k+1].end)
				add(QDiastolic, dia, n.start, nums[k+1].end)
				skip = k + 1
				continue
			}
		}
		// Heart rate: "150 bpm", "pulse 190", "HR: 38", "heart rate was 45", "心率180".
		if n.v >= 20 && n.v <= 250 && (unit == "bpm" || unit == "" && l.pulseBefore(text, fs, toks, nums, k)) {
			add(QHeartRate, n.v, n.start, max(uend, n.end))
			continue
		}
		// Pain: "8 out of 10", "8 de 10", "8 sur 10".
		if k+1 < len(nums) && nums[k+1].v == 10 && n.v <= 10 && nums[k+1].start-n.end <= 2 &&
			near(fs, toks, n.start, n.end, 8, "pain", "severe", "chest_pain", "abdominal_pain", "headache", "back_pain") {
			add(QPainScore, n.v, n.start, nums[k+1].end)
			continue
		}
		switch {
		case unit == "degree" || suffix == "f" || suffix == "c" || (unit == "" && (near(fs, toks, n.start, n.end, 5, "fever", "temperature") || labelledBy(text, fs, toks, n, "fever", "temperature"))):
			c, ok := celsius(n.v, suffix)
			if ok {
				add(QTemperatureC, c, n.start, max(uend, n.end))
				continue
			}
		}
		if strings.HasPrefix(suffix, "mmol") || n.end < len(toks) && strings.HasPrefix(toks[n.end].Text, "mmol") {
			add(QGlucose, n.v*18, n.start, n.end) // mmol/L in a patient's message is a glucose
			continue
		}
		if near(fs, toks, n.start, n.end, 6, "glucose", "hypoglycemia", "hyperglycemia") && n.v >= 20 && n.v <= 1000 && unit == "" {
			v := n.v
			if v < 35 {
				v *= 18 // mmol/L
			}
			add(QGlucose, v, n.start, n.end)
			continue
		}
		if near(fs, toks, n.start, n.end, 4, "inr") && n.v >= 0.5 && n.v <= 15 && unit == "" {
			add(QINR, n.v, n.start, n.end)
			continue
		}
		// "5 weeks old", "3 mo old": a unit phrase of the "old" kind that starts with a time
		// unit is an age in that unit; "12 yo", "8 y/o" are years.
		if unit == "old" {
			base := unitDays[l.units[toks[n.end].Text]]
			if base == 0 {
				base = unitDays["year"]
			}
			add(QAgeDays, n.v*base, n.start, uend)
			continue
		}
		switch unit {
		case "pill":
			add(QPills, n.v, n.start, uend)
			continue
		case "pregnant_weeks":
			add(QGestationWk, n.v, n.start, uend)
			continue
		case "day", "week", "month", "year", "hour", "minute":
			old, oend := l.unitAt(toks, uend)
			// An age is written next to the baby or child it is the age of ("my 3 week old",
			// "bebé de 8 meses", "3个月大的宝宝"); a number further away is a duration.
			child := near(fs, toks, n.start, uend, 2, "infant", "child")
			switch {
			case old == "old" || old == "pregnant_weeks" && unit == "week":
				if old == "pregnant_weeks" {
					add(QGestationWk, n.v, n.start, oend)
				} else {
					add(QAgeDays, n.v*unitDays[unit], n.start, oend)
				}
				continue
			case unit == "week" && (pregnant || l.selfWeeks(toks, n.start) && clauseEnds(toks, uend)) && !child && old == "" && n.v >= 4 && n.v <= 43:
				add(QGestationWk, n.v, n.start, uend)
				continue
			case child && unitDays[unit] > 0:
				add(QAgeDays, n.v*unitDays[unit], n.start, uend)
				continue
			}
			if h, ok := unitHours[unit]; ok {
				add(QDurationHrs, n.v*h, n.start, uend)
			}
			continue
		}
		if (near(fs, toks, n.start, n.end, 4, "overdose", "ingestion", "medicine_taken") || medicineAfter(fs, toks, n.end)) && n.v >= 2 && n.v <= 500 {
			add(QPills, n.v, n.start, n.end)
		}
	}
	return out
}

// pulseLabelAt reports whether a heart-rate label starts at token i ("38.9 HR 118": the HR
// is the 118's label, not the 38.9's unit).
func (l *Lexicons) pulseLabelAt(fs []Finding, toks []Token, nums []num, i int) bool {
	for _, f := range fs {
		if f.Concept == "heart_rate" && f.Start == i && !l.unitNotLabel(f, toks, nums) {
			return true
		}
	}
	return false
}

// unitNotLabel reports whether the heart-rate finding f is the unit of the number before it
// ("2 hr 30 min", "120 bpm") rather than the label of a number after it ("38.9 HR 118").
func (l *Lexicons) unitNotLabel(f Finding, toks []Token, nums []num) bool {
	u := l.units[toks[f.Start].Text]
	if u == "" || f.Start == 0 || !toks[f.Start-1].Number || toks[f.Start-1].CommaAfter {
		return false
	}
	var prev, next *num
	for i := range nums {
		if nums[i].end == f.Start {
			prev = &nums[i]
		}
		if nums[i].start == f.End {
			next = &nums[i]
		}
	}
	if u == "bpm" {
		return prev != nil && prev.v >= 20 && prev.v <= 250
	}
	if next == nil {
		return true
	}
	nu, _ := l.unitAt(toks, next.end)
	return nu != "" && nu != "bpm" // "2 hr 30 min": a duration goes on
}

// pulseBefore reports whether number k of nums follows a heart-rate label ("pulse", "HR",
// "heart rate is", "心率") within 3 words, in its clause or right after it across a colon
// ("HR: 118"), with no other number or measure between: the number is a pulse. A label that
// is a unit word and follows a number is that number's unit ("2 hr 30"), not a label.
func (l *Lexicons) pulseBefore(text string, fs []Finding, toks []Token, nums []num, k int) bool {
	n := nums[k]
	for _, f := range fs {
		if f.Concept != "heart_rate" || f.End > n.start {
			continue
		}
		if toks[f.End-1].Clause != toks[n.start].Clause && !(f.End == n.start && colonBetween(text, toks, f.End-1)) {
			continue
		}
		if l.unitNotLabel(f, toks, nums) {
			continue
		}
		if k > 0 && nums[k-1].end > f.End && toks[nums[k-1].start].Number {
			continue // another number stands between
		}
		other := false
		for _, g := range fs {
			switch g.Concept {
			case "temperature", "blood_pressure", "glucose", "inr":
				other = other || g.Start >= f.End && g.Start < n.start
			}
		}
		if other {
			continue
		}
		d := 0
		for i := f.End; i < n.start; i++ {
			if toks[i].Char {
				d++
			} else {
				d += 2
			}
		}
		if d <= 6 {
			return true
		}
	}
	return false
}

// colonBetween reports whether only a colon (or "=") stands between token i and the next: a
// label and its value ("HR: 118", "Temp: 38.9"), which the tokenizer puts in two clauses.
func colonBetween(text string, toks []Token, i int) bool {
	switch strings.TrimSpace(between(text, toks, i, i+1)) {
	case ":", "：", "=", ":-", "-":
		return true
	}
	return false
}

// labelledBy reports whether number n directly follows a finding of one of the concepts,
// across a colon ("Temp: 38.9").
func labelledBy(text string, fs []Finding, toks []Token, n num, concepts ...string) bool {
	for _, f := range fs {
		for _, c := range concepts {
			if f.Concept == c && f.End == n.start && n.start > 0 && colonBetween(text, toks, n.start-1) {
				return true
			}
		}
	}
	return false
}

// medicineAfter reports whether a medicine is named within 3 words after token i ("20
// tylenol", "15 or 20 of the extra strength"): a count of a medicine.
func medicineAfter(fs []Finding, toks []Token, i int) bool {
	for _, f := range fs {
		if (f.Concept == "daily_medication" || f.Concept == "critical_medication") && f.Start >= i && f.Start-i <= 3 &&
			i < len(toks) && toks[f.Start].Clause == toks[i-1].Clause {
			return true
		}
	}
	return false
}

// selfWeeks reports whether the number at token i follows a "pregnant_pre" phrase of a
// lexicon, directly or with one word between ("I'm about 12 weeks"): a pregnancy's week.
func (l *Lexicons) selfWeeks(toks []Token, i int) bool {
	for _, ph := range l.pregPre {
		for gap := 0; gap <= 1; gap++ {
			if wordsAt(toks, i-gap-len(ph), ph) {
				return true
			}
		}
	}
	return false
}

// wordsAt reports whether the tokens from i are the folded words ws.
func wordsAt(toks []Token, i int, ws []string) bool {
	if i < 0 || i+len(ws) > len(toks) {
		return false
	}
	for j, w := range ws {
		if toks[i+j].Text != w {
			return false
		}
	}
	return true
}

// clauseEnds reports whether token i starts another clause or is past the end: "I'm 12
// weeks." is a pregnancy, "I'm 2 weeks post-op" and "tengo 3 semanas con tos" are not.
func clauseEnds(toks []Token, i int) bool {
	return i >= len(toks) || i > 0 && (toks[i].Clause != toks[i-1].Clause || toks[i-1].CommaAfter)
}

// celsius reads a temperature: °F (or a value in the Fahrenheit range) converted, °C as is.
func celsius(v float64, suffix string) (float64, bool) {
	switch {
	case suffix == "f" || v >= 93 && v <= 110:
		c := (v - 32) * 5 / 9
		return c, c >= 30 && c <= 45
	case suffix == "c" || v >= 34 && v <= 43:
		return v, v >= 30 && v <= 45
	}
	return 0, false
}

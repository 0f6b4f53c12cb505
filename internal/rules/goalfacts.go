// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package rules // import "github.com/promptetheus/otelcol-promptetheus/internal/rules"

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// goalFacts are the checkable tokens of a text: weekdays and clock times.
type goalFacts struct {
	days  []string
	times []int // minutes after midnight
}

var (
	dayPattern  = regexp.MustCompile(`(?i)\b(mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?\b`)
	timePattern = regexp.MustCompile(`(?i)\b(\d{1,2})(?::(\d{2}))?\s*(a\.?m\.?|p\.?m\.?)?(?:\W|$)`)
)

var dayNames = map[string]string{"mon": "monday", "tue": "tuesday", "tues": "tuesday", "wed": "wednesday", "wednes": "wednesday",
	"thu": "thursday", "thurs": "thursday", "fri": "friday", "sat": "saturday", "satur": "saturday", "sun": "sunday"}

func extractFacts(text string) goalFacts {
	var f goalFacts
	for _, m := range dayPattern.FindAllStringSubmatch(text, -1) {
		if d := dayNames[strings.ToLower(m[1])]; d != "" && !slices.Contains(f.days, d) {
			f.days = append(f.days, d)
		}
	}
	for _, m := range timePattern.FindAllStringSubmatch(text, -1) {
		if m[2] == "" && m[3] == "" {
			continue // a bare number is not a time
		}
		h, _ := strconv.Atoi(m[1])
		mins, _ := strconv.Atoi(m[2])
		meridiem := strings.ToLower(strings.ReplaceAll(m[3], ".", ""))
		switch {
		case h > 23 || mins > 59 || (meridiem != "" && (h == 0 || h > 12)):
			continue
		case meridiem == "pm" && h < 12:
			h += 12
		case meridiem == "am" && h == 12:
			h = 0
		}
		if t := h*60 + mins; !slices.Contains(f.times, t) {
			f.times = append(f.times, t)
		}
	}
	return f
}

func (f goalFacts) empty() bool { return len(f.days) == 0 && len(f.times) == 0 }

// contradiction says how other disagrees with the goal: a weekday or a time
// that the goal does not name, where the goal names one. "" when none.
func (f goalFacts) contradiction(other goalFacts) string {
	if len(f.days) > 0 && len(other.days) > 0 && !overlaps(f.days, other.days) {
		return fmt.Sprintf("name %s, the goal %s", strings.Join(other.days, "/"), strings.Join(f.days, "/"))
	}
	if len(f.times) > 0 && len(other.times) > 0 && !overlaps(f.times, other.times) {
		return fmt.Sprintf("name %s, the goal %s", clock(other.times[0]), clock(f.times[0]))
	}
	return ""
}

func overlaps[T comparable](a, b []T) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func clock(mins int) string {
	h, m := mins/60, mins%60
	suffix := "AM"
	if h >= 12 {
		suffix = "PM"
	}
	if h = h % 12; h == 0 {
		h = 12
	}
	return fmt.Sprintf("%d:%02d %s", h, m, suffix)
}

// Copyright The Promptetheus Collector Authors
// SPDX-License-Identifier: Apache-2.0

package pricing // import "github.com/promptetheus/otelcol-promptetheus/internal/pricing"

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Price keys of the data and the units they count. A call reports input and
// output tokens only, so of all the units the source prices (cache reads and
// writes, audio, images, searches...) only these can cost anything: every
// other one counts zero for such a call, exactly as in the source.
const (
	keyInputMTok      = "input_mtok"      // USD per million input tokens
	keyOutputMTok     = "output_mtok"     // USD per million output tokens
	keyRequestsKCount = "requests_kcount" // USD per thousand requests
	perMTok           = 1e6
	perKCount         = 1e3
)

// tier is the price that applies when the call's input tokens exceed start.
type tier struct {
	Start int64   `json:"start"`
	Price float64 `json:"price"`
}

// unitPrice is a flat price, or a base price with tiers chosen by the
// call's input token count.
type unitPrice struct {
	base  float64
	tiers []tier // ascending by start; nil for a flat price
}

func (u *unitPrice) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] != '{' {
		if err := json.Unmarshal(b, &u.base); err != nil {
			return err
		}
		return checkPrice(u.base)
	}
	var tiered struct {
		Base  *float64 `json:"base"`
		Tiers []tier   `json:"tiers"`
	}
	if err := json.Unmarshal(b, &tiered); err != nil {
		return err
	}
	if tiered.Base == nil || tiered.Tiers == nil {
		return errors.New("tiered price without base or tiers")
	}
	u.base, u.tiers = *tiered.Base, tiered.Tiers
	slices.SortStableFunc(u.tiers, func(a, b tier) int { return cmp.Compare(a.Start, b.Start) })
	for _, t := range u.tiers {
		if t.Start < 0 {
			return errors.New("tier start below zero")
		}
		if err := checkPrice(t.Price); err != nil {
			return err
		}
	}
	return checkPrice(u.base)
}

func checkPrice(p float64) error {
	if p < 0 || math.IsInf(p, 0) || math.IsNaN(p) {
		return fmt.Errorf("price %v is not a finite non-negative number", p)
	}
	return nil
}

// cost of count units at per units per price, computed with the source's
// operations in its order so that results agree to the last bit.
func (u *unitPrice) cost(count, inputTokens int64, per float64) float64 {
	if u.tiers == nil {
		return u.base * float64(count) / per
	}
	if count <= 0 {
		return 0
	}
	price := u.base
	for _, t := range u.tiers {
		if inputTokens > t.Start {
			price = t.Price
		}
	}
	return price * float64(count) / 1e6 * 1e6 / per
}

// modelPrice holds the prices a token count can reach; nil when unpriced.
type modelPrice struct {
	input, output, requests *unitPrice
}

func (p *modelPrice) UnmarshalJSON(b []byte) error {
	var raw struct {
		Input    *unitPrice `json:"input_mtok"`
		Output   *unitPrice `json:"output_mtok"`
		Requests *unitPrice `json:"requests_kcount"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	p.input, p.output, p.requests = raw.Input, raw.Output, raw.Requests
	return nil
}

// cost is the source's total price of a call: input, output, then other
// units summed apart, then added up.
func (p *modelPrice) cost(inputTokens, outputTokens int64) float64 {
	var in, out, other float64
	if p.input != nil {
		in += p.input.cost(inputTokens, inputTokens, perMTok)
	}
	if p.output != nil {
		out += p.output.cost(outputTokens, inputTokens, perMTok)
	}
	if p.requests != nil {
		other += p.requests.cost(1, inputTokens, perKCount)
	}
	return in + out + other
}

// Kinds of price constraint.
const (
	always = iota
	fromDate
	timeOfDay
)

// conditionalPrice applies from a date on, or during a time of day (UTC,
// possibly wrapping midnight), or always.
type conditionalPrice struct {
	kind     int
	startMS  int64   // fromDate: the date's midnight UTC, in Unix milliseconds
	from, to float64 // timeOfDay: seconds into the UTC day
	prices   modelPrice
}

func (c *conditionalPrice) UnmarshalJSON(b []byte) error {
	var raw struct {
		Constraint *struct {
			Type      string `json:"type"`
			StartDate string `json:"start_date"`
			StartTime string `json:"start_time"`
			EndTime   string `json:"end_time"`
		} `json:"constraint"`
		Prices *modelPrice `json:"prices"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw.Prices == nil {
		return errors.New("conditional price without prices")
	}
	c.prices = *raw.Prices
	k := raw.Constraint
	switch {
	case k == nil:
		c.kind = always
	case k.Type == "start_date" || k.Type == "" && k.StartDate != "":
		d, err := time.Parse(time.DateOnly, k.StartDate)
		if err != nil {
			return fmt.Errorf("start_date: %w", err)
		}
		c.kind, c.startMS = fromDate, d.UnixMilli()
	case k.Type == "time_of_date" || k.Type == "" && k.StartTime != "":
		var err error
		if c.from, err = parseTimeOfDay(k.StartTime); err != nil {
			return err
		}
		if c.to, err = parseTimeOfDay(k.EndTime); err != nil {
			return err
		}
		c.kind = timeOfDay
	default:
		return fmt.Errorf("unknown price constraint %q", k.Type)
	}
	return nil
}

var timeOfDayRE = regexp.MustCompile(`^(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$`)

// parseTimeOfDay reads "HH:MM:SS[.fff](Z|±HH:MM)" as seconds into the UTC day.
func parseTimeOfDay(s string) (float64, error) {
	m := timeOfDayRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("invalid time-of-day constraint %q", s)
	}
	num := func(i int) float64 { v, _ := strconv.Atoi(m[i]); return float64(v) }
	h, mi, sec := num(1), num(2), num(3)
	offH, offM := "00", "00"
	if m[5] != "Z" {
		offH, offM = m[7], m[8]
	}
	if h > 23 || mi > 59 || sec > 59 || offH > "23" || offM > "59" {
		return 0, fmt.Errorf("invalid time-of-day constraint %q", s)
	}
	frac, _ := strconv.ParseFloat("0."+m[4], 64)
	seconds := h*3600 + mi*60 + sec + frac
	off, _ := strconv.Atoi(offH)
	offMin, _ := strconv.Atoi(offM)
	offset := float64((off*60 + offMin) * 60)
	switch m[6] {
	case "+":
	case "-":
		offset = -offset
	default:
		offset = 0
	}
	return math.Mod(seconds-offset+86400, 86400), nil
}

// schedule is a model's prices: one set, or sets that change over time.
type schedule struct {
	fixed *modelPrice
	conds []conditionalPrice
}

func (s *schedule) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		if err := json.Unmarshal(b, &s.conds); err != nil {
			return err
		}
		if len(s.conds) == 0 {
			return errors.New("empty list of prices")
		}
		return nil
	}
	s.fixed = new(modelPrice)
	return json.Unmarshal(b, s.fixed)
}

// at picks the prices in force at t as the source does: the last entry
// whose constraint holds, else the first.
func (s *schedule) at(t time.Time) *modelPrice {
	if s.fixed != nil {
		return s.fixed
	}
	ms := t.UnixMilli()
	utc := t.UTC()
	day := float64(utc.Hour()*3600+utc.Minute()*60+utc.Second()) + float64(utc.Nanosecond()/int(time.Millisecond))/1e3
	for i := len(s.conds) - 1; i >= 0; i-- {
		c := &s.conds[i]
		switch c.kind {
		case always:
			return &c.prices
		case fromDate:
			if ms >= c.startMS {
				return &c.prices
			}
		case timeOfDay:
			if c.to < c.from && (day >= c.from || day < c.to) || c.to >= c.from && day >= c.from && day < c.to {
				return &c.prices
			}
		}
	}
	return &s.conds[0].prices
}

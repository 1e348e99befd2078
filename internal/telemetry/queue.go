package telemetry

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// QueueCounter counts the open patient messages that are overdue now and those flagged for
// review (triagehook.OpenQueue).
type QueueCounter func(ctx context.Context, now time.Time) (overdue, review int, err error)

// Triage queue gauges are counted at most once per queueMaxAge, each count given at most
// queueTimeout: a scrape never waits long, and many scrapes never cost more than one count
// every half minute.
const (
	queueMaxAge  = 30 * time.Second
	queueTimeout = 2 * time.Second
)

// RegisterTriageQueue adds the gauges portico_triage_overdue_messages and
// portico_triage_review_messages, counted by count when scraped (cached for 30 s, 2 s at most
// per count). When a count fails the gauges are left out of that scrape and a warning is
// logged.
func (m *Metrics) RegisterTriageQueue(count QueueCounter, log *slog.Logger) {
	if m == nil {
		return
	}
	m.queue = &queueCollector{count: count, log: log, now: time.Now,
		overdue: prometheus.NewDesc("portico_triage_overdue_messages",
			"Open patient messages (status in-progress) past their due time, counted at most every 30 s.", nil, nil),
		review: prometheus.NewDesc("portico_triage_review_messages",
			"Open patient messages (status in-progress) that triage flagged for review, counted at most every 30 s.", nil, nil),
	}
	m.reg.MustRegister(m.queue)
}

type queueCollector struct {
	count           QueueCounter
	log             *slog.Logger
	now             func() time.Time
	overdue, review *prometheus.Desc

	mu         sync.Mutex // held while counting: concurrent scrapes wait for one count
	at         time.Time  // when the cached figures were counted
	ok         bool       // the last count succeeded
	nOverdue   int
	nForReview int
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.overdue
	ch <- c.review
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); c.at.IsZero() || now.Sub(c.at) >= queueMaxAge {
		ctx, cancel := context.WithTimeout(context.Background(), queueTimeout)
		overdue, review, err := c.count(ctx, now)
		cancel()
		c.at, c.ok = now, err == nil
		if err != nil {
			c.log.Warn("triage queue gauges not counted", "error", err.Error())
		} else {
			c.nOverdue, c.nForReview = overdue, review
		}
	}
	if c.ok {
		ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, float64(c.nOverdue))
		ch <- prometheus.MustNewConstMetric(c.review, prometheus.GaugeValue, float64(c.nForReview))
	}
}

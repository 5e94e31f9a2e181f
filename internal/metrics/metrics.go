// Package metrics exports fieldd's shared-memory counters to Prometheus.
//
// The collector reads a statistics snapshot at scrape time, so counting
// costs the publish and drain paths nothing beyond their shared-memory
// increments. Labels are bounded: an arena index (at most --max-writers
// plus one) and an error code from a fixed set; clients are summed, never
// labelled by pid or name.
package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/fieldd/fieldd/internal/proto"
)

// Collector is a prometheus.Collector over a statistics source.
type Collector struct {
	source func() proto.StatsReply

	fields, fieldsMax, clients, clientsMax *prometheus.Desc
	publishes, coalesced, notified, full   *prometheus.Desc
	arenaUsed, arenaSize                   *prometheus.Desc
	overflows, wakes, drains, drained      *prometheus.Desc
	rebuilds, frames, callbacks, overruns  *prometheus.Desc
	panics, badIDs, parks, rejected        *prometheus.Desc
}

// New returns a collector that calls source at every scrape.
func New(source func() proto.StatsReply) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("fieldd_"+name, help, labels, nil)
	}
	return &Collector{
		source:     source,
		fields:     d("fields", "Field IDs issued."),
		fieldsMax:  d("fields_max", "Size of the field table (--max-fields)."),
		clients:    d("clients", "Clients connected, one slot each."),
		clientsMax: d("clients_max", "Client slots (--max-clients)."),
		publishes:  d("publishes_total", "Values stored by writers, by arena.", "arena"),
		coalesced:  d("coalesced_total", "Notifications skipped because the field was already pending, by arena.", "arena"),
		notified:   d("notifications_total", "Notifications queued in client slots, by arena.", "arena"),
		full:       d("arena_full_total", "Publishes rejected because the writer arena was full, by arena.", "arena"),
		arenaUsed:  d("arena_used_bytes", "Bytes handed out in the arena.", "arena"),
		arenaSize:  d("arena_size_bytes", "Size of each arena (--arena-size)."),
		overflows:  d("ring_overflows_total", "Times a writer found a client ring full and raised its overflow flag."),
		wakes:      d("futex_wakes_total", "Futex wakes of parked clients made by writers."),
		drains:     d("drains_total", "Client drains that found notifications."),
		drained:    d("drained_total", "Field IDs clients took from their rings and bitmaps."),
		rebuilds:   d("overflow_rebuilds_total", "Pending-bitmap scans after a ring overflow."),
		frames:     d("frames_total", "Client dispatch frames."),
		callbacks:  d("callbacks_total", "Client callbacks called."),
		overruns:   d("frame_overruns_total", "Frames that spent their time budget with fields left."),
		panics:     d("callback_panics_total", "Client callbacks that panicked."),
		badIDs:     d("bad_ids_total", "Out-of-range field IDs clients dropped."),
		parks:      d("parks_total", "Times clients parked on their futex."),
		rejected:   d("rejected_requests_total", "Control requests the daemon rejected, by code.", "code"),
	}
}

// Describe sends every descriptor.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.fields, c.fieldsMax, c.clients, c.clientsMax,
		c.publishes, c.coalesced, c.notified, c.full, c.arenaUsed, c.arenaSize,
		c.overflows, c.wakes, c.drains, c.drained, c.rebuilds, c.frames, c.callbacks,
		c.overruns, c.panics, c.badIDs, c.parks, c.rejected} {
		ch <- d
	}
}

// Collect reads one snapshot and sends its metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.source()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}

	gauge(c.fields, float64(s.Fields))
	gauge(c.fieldsMax, float64(s.MaxFields))
	gauge(c.clients, float64(len(s.Slots)))
	gauge(c.clientsMax, float64(s.MaxClients))
	gauge(c.arenaSize, float64(s.ArenaSize))
	for _, w := range s.Writers {
		a := strconv.Itoa(w.Arena)
		counter(c.publishes, w.Publishes, a)
		counter(c.coalesced, w.Coalesced, a)
		counter(c.notified, w.Notified, a)
		counter(c.full, w.ArenaFull, a)
		gauge(c.arenaUsed, float64(w.BytesUsed), a)
	}

	t := s.Totals
	counter(c.overflows, t.Overflows)
	counter(c.wakes, t.Wakes)
	counter(c.drains, t.Drains)
	counter(c.drained, t.Drained)
	counter(c.rebuilds, t.Rebuilds)
	counter(c.frames, t.Frames)
	counter(c.callbacks, t.Callbacks)
	counter(c.overruns, t.Overruns)
	counter(c.panics, t.Panics)
	counter(c.badIDs, t.BadIDs)
	counter(c.parks, t.Parks)
	for _, code := range []string{proto.CodeBadRequest, proto.CodeVersion, proto.CodeDenied, proto.CodeSlotsFull,
		proto.CodeLimit, proto.CodeNotFound, proto.CodeOwned, proto.CodeClaimed, proto.CodeInternal} {
		counter(c.rejected, s.RejectedBy[code], code)
	}
}

// NewRegistry returns a registry with the collector and the Go and process
// collectors. Each call builds a new registry, so tests may call it many
// times in one process.
func NewRegistry(source func() proto.StatsReply) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(New(source))
	reg.MustRegister(collectors.NewGoCollector())
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

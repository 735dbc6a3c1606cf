/// One kind of span a Vigil process records: what it covers and where it hangs in a trace.
public struct SpanDescriptor: Sendable, Equatable {
    public var name: String
    /// `service.name` of the process that records it.
    public var service: String
    /// The span it is a child of, as designed (nil: a trace's root, or the remote parent named in `description`).
    public var parent: String?
    public var description: String

    public init(name: String, service: String, parent: String?, description: String) {
        self.name = name
        self.service = service
        self.parent = parent
        self.description = description
    }
}

/// Every span name the agent and the collector record. A test reads the sources and fails when a span is recorded
/// that is not here, or is here and recorded nowhere; the README's span table is rendered from this list.
public enum SpanCatalogue {
    static let agent = "vigil-agent"
    static let collector = "vigil-collector"

    public static let all: [SpanDescriptor] = [
        .init(name: "agent.feed.poll", service: agent, parent: nil, description: "One poll of a feed (request, parse, retries)."),
        .init(
            name: "agent.normalizer.normalize", service: agent, parent: "agent.feed.poll",
            description: "Validation and repair of the poll's bars; rejects go to the dead-letter file."),
        .init(
            name: "agent.detector.detect", service: agent, parent: "agent.feed.poll",
            description: "Tier-1 detection over the poll's bars; each detection carries this span's ids."),
        .init(
            name: "agent.batcher.seal", service: agent, parent: "agent.detector.detect",
            description:
                "A batch sealed (size or age), in the trace of its first detection (a root without one); links to the traces of up to 32 other detections."
        ),
        .init(
            name: "agent.spool.append", service: agent, parent: "agent.batcher.seal",
            description: "The sealed batch written and fsync'd to the spool."),
        .init(
            name: "agent.shipper.send", service: agent, parent: "agent.batcher.seal",
            description: "One POST of the batch to the collector; its traceparent continues there."),
        .init(
            name: "collector.receiver.receive", service: collector, parent: "agent.shipper.send",
            description: "One ingest request (remote parent: the agent's send, from traceparent)."),
        .init(
            name: "collector.deduper.check", service: collector, parent: "collector.receiver.receive",
            description: "The agent's sequence against its high-water mark."),
        .init(
            name: "collector.partition.warmup", service: collector, parent: "collector.receiver.receive",
            description:
                "Reads the stored history of series the partitions hold no state for (after a restart, new symbols); only then."),
        .init(
            name: "collector.partition.process", service: collector, parent: "collector.receiver.receive",
            description: "One partition's share of the request: windows, Tier-1 for ingested bars, features, episodes."),
        .init(
            name: "collector.scorer.score", service: collector, parent: "collector.receiver.receive",
            description: "Tier-2: the champions (and challengers in shadow) score the request's rows."),
        .init(
            name: "collector.alerter.raise", service: collector, parent: "collector.receiver.receive",
            description: "Market-wide tallies and alerts of the request."),
        .init(
            name: "collector.store.apply", service: collector, parent: "collector.receiver.receive",
            description: "The batch, its detections, alerts and high-water mark in one transaction."),
        .init(
            name: "collector.trainer.train", service: collector, parent: "collector.api.train",
            description: "One Tier-2 training run (shadow comparison, new models); a root when scheduled."),
        .init(
            name: "collector.trainer.fit", service: collector, parent: "collector.trainer.train", description: "Fitting and measuring one model kind."
        ),
        .init(name: "collector.api.events", service: collector, parent: nil, description: "GET /v1/events."),
        .init(name: "collector.api.alerts", service: collector, parent: nil, description: "GET /v1/alerts."),
        .init(name: "collector.api.alert", service: collector, parent: nil, description: "GET /v1/alerts/{id}."),
        .init(name: "collector.api.feedback", service: collector, parent: nil, description: "POST /v1/alerts/{id}/feedback."),
        .init(name: "collector.api.bars", service: collector, parent: nil, description: "GET /v1/bars."),
        .init(name: "collector.api.stats", service: collector, parent: nil, description: "GET /v1/stats."),
        .init(name: "collector.api.models", service: collector, parent: nil, description: "GET /v1/models."),
        .init(name: "collector.api.scores", service: collector, parent: nil, description: "GET /v1/scores."),
        .init(name: "collector.api.train", service: collector, parent: nil, description: "POST /v1/models/train (its run is a child)."),
        .init(name: "collector.api.promote", service: collector, parent: nil, description: "POST /v1/models/{id}/promote."),
    ]
}

// Vigil collector alerter: market-wide events — many symbols flagged at the same bar time become one `ALL` alert.

import Foundation
import Synchronization
import VigilStore

/// One flagged symbol at one bar time, with its strongest detection.
struct FlaggedSymbol: Sendable, Hashable {
    var symbol: String
    /// The symbol's max anomaly score at that time, 0...1.
    var score: Double
    var traceID: String?
    var spanID: String?
    var detector: String
}

/// What one batch part saw at one bar time: how many distinct symbols had a bar then, and which of them were flagged.
struct MarketTally: Sendable {
    var symbolsSeen: Int
    var flagged: [FlaggedSymbol]
}

/// Tallies bar times across every partition and raises a market-wide alert when enough of the market is flagged at
/// once. Shared by all partitions, so its state sits behind a `Mutex` (one lock per batch part, not per bar).
///
/// Memory is bounded: per bar time two counts and the top five flagged symbols, and at most
/// `marketWideMaxIntervals` bar times (the oldest are forgotten, and later tallies for them are ignored so that a
/// forgotten time cannot come back with partial counts).
final class MarketWatch: Sendable {
    static let topCount = 5

    private struct Interval {
        var seen = 0
        var flagged = 0
        /// By descending score; at most `topCount`.
        var top: [FlaggedSymbol] = []
        /// Whether an alert was raised for this time; from then on every change updates it.
        var alerted = false
    }

    private struct State {
        var intervals: [Int64: Interval] = [:]
        /// The times in `intervals`, oldest on top, to find what to forget.
        var order = MinHeap()
        /// Tallies at or before this time are ignored: it was forgotten.
        var forgottenThrough = Int64.min
    }

    private let configuration: AlerterConfiguration
    private let state = Mutex(State())

    init(configuration: AlerterConfiguration) {
        self.configuration = configuration
    }

    /// Adds one batch part's tallies (counts add up across calls: each symbol's bar at a time arrives once).
    ///
    /// - Returns: The market-wide alerts raised or updated, ascending by bar time: one for each time whose tally
    ///   changed and that crossed the thresholds now or earlier.
    func record(_ tallies: [Int64: MarketTally]) -> [StoredAlert] {
        guard !tallies.isEmpty else { return [] }
        let configuration = configuration
        return state.withLock { state in
            var alerts: [StoredAlert] = []
            for time in tallies.keys.sorted() {
                guard let tally = tallies[time], tally.symbolsSeen > 0 || !tally.flagged.isEmpty, time > state.forgottenThrough else {
                    continue
                }
                var interval: Interval
                if let known = state.intervals.removeValue(forKey: time) {
                    interval = known
                } else {
                    state.order.push(time)
                    interval = Interval()
                }
                interval.seen += max(tally.symbolsSeen, 0)
                interval.flagged += tally.flagged.count
                for symbol in tally.flagged { Self.offer(symbol, to: &interval.top) }
                let share = interval.seen > 0 ? Double(interval.flagged) / Double(interval.seen) : 0
                if !interval.alerted, interval.seen >= configuration.marketWideMinSymbols, share >= configuration.marketWideShare {
                    interval.alerted = true
                }
                if interval.alerted { alerts.append(Self.alert(time: time, interval: interval, share: share, configuration: configuration)) }
                state.intervals[time] = interval
            }
            while state.intervals.count > configuration.marketWideMaxIntervals, let oldest = state.order.pop() {
                state.intervals.removeValue(forKey: oldest)
                state.forgottenThrough = max(state.forgottenThrough, oldest)
            }
            return alerts
        }
    }

    /// Bar times currently remembered.
    var intervalCount: Int { state.withLock { $0.intervals.count } }

    private static func offer(_ symbol: FlaggedSymbol, to top: inout [FlaggedSymbol]) {
        let score = symbol.score.isNaN ? 0 : symbol.score
        guard top.count < topCount || score > top[top.count - 1].score else { return }
        var entry = symbol
        entry.score = score
        // Insertion keeps the first of equal scores ahead.
        let index = top.firstIndex { score > $0.score } ?? top.endIndex
        top.insert(entry, at: index)
        if top.count > topCount { top.removeLast() }
    }

    private static func alert(time: Int64, interval: Interval, share: Double, configuration: AlerterConfiguration) -> StoredAlert {
        let percent = String(format: "%.1f", share * 100)
        var explanation = "\(interval.flagged) of \(interval.seen) symbols flagged (\(percent)%)"
        if !interval.top.isEmpty {
            let top = interval.top.map { "\($0.symbol) \(String(format: "%.2f", $0.score)) (\($0.detector))" }
            explanation += "; top: " + top.joined(separator: ", ")
        }
        // The top symbol's trace; when it has none, the best-ranked symbol that has one.
        let traced = interval.top.first { $0.traceID != nil }
        return StoredAlert(
            key: "ALL:\(time)",
            symbol: "ALL",
            firstTimestamp: time,
            lastTimestamp: time,
            tier: 1,
            kind: "market_wide",
            severity: share >= 2 * configuration.marketWideShare ? "critical" : "warning",
            score: (min(share, 1) * 1000).rounded() / 10,
            explanation: explanation,
            traceID: traced?.traceID,
            spanID: traced?.spanID
        )
    }
}

// MARK: - Oldest-first order

/// A binary min-heap of bar times: O(log n) to add a time or take the oldest, whatever order times arrive in.
private struct MinHeap {
    private var items: [Int64] = []

    mutating func push(_ value: Int64) {
        items.append(value)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Int64? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        guard !items.isEmpty else { return top }
        items[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < items.count, items[left] < items[smallest] { smallest = left }
            if right < items.count, items[right] < items[smallest] { smallest = right }
            guard smallest != parent else { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}

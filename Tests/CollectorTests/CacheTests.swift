// Tests for the collector's byte-bounded LRU cache: recency order, byte budget, TTL, counters and metrics.

import Metrics
import Synchronization
import Testing

@testable import VigilCollector

// MARK: - Helpers

/// A clock the test moves by hand.
private final class ManualClock: Sendable {
    private let now = Mutex<UInt64>(1_000)

    var read: @Sendable () -> UInt64 { { [self] in now.withLock { $0 } } }

    func advance(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        now.withLock { $0 += UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000) }
    }
}

/// Records the last value of every counter and gauge, by label and dimensions.
private final class RecordingMetrics: MetricsFactory, Sendable {
    final class Handler: CounterHandler, RecorderHandler, TimerHandler, Sendable {
        let value = Mutex<Double>(0)
        func increment(by amount: Int64) { value.withLock { $0 += Double(amount) } }
        func reset() { value.withLock { $0 = 0 } }
        func record(_ value: Int64) { self.value.withLock { $0 = Double(value) } }
        func record(_ value: Double) { self.value.withLock { $0 = value } }
        func recordNanoseconds(_ duration: Int64) {}
    }

    private let handlers = Mutex<[String: Handler]>([:])

    private static func id(_ label: String, _ dimensions: [(String, String)]) -> String {
        ([label] + dimensions.map { "\($0.0)=\($0.1)" }).joined(separator: ",")
    }

    private func handler(_ label: String, _ dimensions: [(String, String)]) -> Handler {
        handlers.withLock { handlers in
            let id = Self.id(label, dimensions)
            if let existing = handlers[id] { return existing }
            let created = Handler()
            handlers[id] = created
            return created
        }
    }

    func value(_ label: String, _ dimensions: [(String, String)]) -> Double? {
        handlers.withLock { $0[Self.id(label, dimensions)] }?.value.withLock { $0 }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { handler(label, dimensions) }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { handler(label, dimensions) }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { handler(label, dimensions) }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}

private let overhead = ByteLRUCache<String, Int>.entryOverhead

// MARK: - Tests

@Suite struct ByteLRUCacheTests {
    @Test func evictsTheLeastRecentlyUsedEntryFirst() {
        // Room for exactly three entries of cost 10.
        let cache = ByteLRUCache<String, Int>(name: "test", maxBytes: 3 * (10 + overhead), ttl: .seconds(60))
        cache.put("a", 1, cost: 10)
        cache.put("b", 2, cost: 10)
        cache.put("c", 3, cost: 10)
        #expect(cache.get("a") == 1)  // a is now the most recently used; b the least
        cache.put("d", 4, cost: 10)
        #expect(cache.get("b") == nil)
        #expect(cache.get("a") == 1)
        #expect(cache.get("c") == 3)
        #expect(cache.get("d") == 4)
        cache.put("e", 5, cost: 10)  // a was used before c and d: it goes
        #expect(cache.get("a") == nil)
        #expect(cache.stats.entries == 3)
        #expect(cache.stats.evictions == 2)
    }

    @Test func staysWithinItsByteBudget() {
        let maxBytes = 1_000
        let cache = ByteLRUCache<Int, [UInt8]>(name: "test", maxBytes: maxBytes, ttl: .seconds(60))
        for key in 0..<200 {
            cache.put(key, [UInt8](repeating: 0, count: key % 50), cost: key % 50 * 3)
            #expect(cache.stats.bytes <= maxBytes)
        }
        let stats = cache.stats
        #expect(stats.entries > 0)
        #expect(stats.evictions == UInt64(200 - stats.entries))
        // The newest entry is always kept; a large entry pushes out several small ones.
        #expect(cache.get(199) != nil)
        cache.put(-1, [], cost: maxBytes - overhead)
        #expect(cache.stats.entries == 1)
        #expect(cache.stats.bytes == maxBytes)
    }

    @Test func replacingAnEntryUpdatesItsValueAndCost() {
        let cache = ByteLRUCache<String, Int>(name: "test", maxBytes: 10_000, ttl: .seconds(60))
        cache.put("a", 1, cost: 100)
        cache.put("a", 2, cost: 300)
        #expect(cache.get("a") == 2)
        #expect(cache.stats.entries == 1)
        #expect(cache.stats.bytes == 300 + overhead)
        cache.remove("a")
        #expect(cache.get("a") == nil)
        #expect(cache.stats.bytes == 0)
    }

    @Test func refusesAnEntryLargerThanTheBudget() {
        let cache = ByteLRUCache<String, Int>(name: "test", maxBytes: 500, ttl: .seconds(60))
        cache.put("small", 1, cost: 10)
        cache.put("huge", 2, cost: 500)  // 500 + overhead > 500
        #expect(cache.get("huge") == nil)
        #expect(cache.get("small") == 1)
        cache.put("overflow", 3, cost: .max)
        #expect(cache.get("overflow") == nil)
        // Replacing a key with an oversize value drops the stale one.
        cache.put("small", 4, cost: 1_000)
        #expect(cache.get("small") == nil)
        #expect(cache.stats.entries == 0)
        #expect(cache.stats.evictions == 0)
    }

    @Test func expiresEntriesAfterTheTTL() {
        let clock = ManualClock()
        let cache = ByteLRUCache<String, Int>(name: "test", maxBytes: 10_000, ttl: .seconds(10), clock: clock.read)
        cache.put("a", 1, cost: 1)
        clock.advance(.seconds(5))
        cache.put("b", 2, cost: 1)
        clock.advance(.milliseconds(4_999))
        #expect(cache.get("a") == 1)  // 9.999 s old
        clock.advance(.milliseconds(1))
        #expect(cache.get("a") == nil)  // 10 s old: expired and removed
        #expect(cache.get("b") == 2)
        clock.advance(.seconds(5))
        #expect(cache.get("b") == nil)
        let stats = cache.stats
        #expect(stats.entries == 0)
        #expect(stats.bytes == 0)
        #expect(stats.expirations == 2)
        #expect(stats.evictions == 0)
    }

    @Test func aNonPositiveTTLNeverExpires() {
        let clock = ManualClock()
        let cache = ByteLRUCache<String, Int>(name: "test", maxBytes: 10_000, ttl: .zero, clock: clock.read)
        cache.put("a", 1, cost: 1)
        clock.advance(.seconds(86_400 * 365))
        #expect(cache.get("a") == 1)
    }

    @Test func evictingAnExpiredEntryForSpaceCountsAsExpiry() {
        let clock = ManualClock()
        let cache = ByteLRUCache<String, Int>(name: "test", maxBytes: 2 * (10 + overhead), ttl: .seconds(1), clock: clock.read)
        cache.put("old", 1, cost: 10)
        clock.advance(.seconds(2))
        cache.put("b", 2, cost: 10)
        cache.put("c", 3, cost: 10)
        let stats = cache.stats
        #expect(stats.expirations == 1)
        #expect(stats.evictions == 0)
        #expect(stats.entries == 2)
    }

    @Test func countsHitsMissesAndReportsMetrics() {
        let metrics = RecordingMetrics()
        let clock = ManualClock()
        let cache = ByteLRUCache<String, Int>(
            name: "bars", maxBytes: 2 * (10 + overhead), ttl: .seconds(1), clock: clock.read, metricsFactory: metrics)
        cache.put("a", 1, cost: 10)
        cache.put("b", 2, cost: 10)
        _ = cache.get("a")
        _ = cache.get("a")
        _ = cache.get("missing")
        cache.put("c", 3, cost: 10)  // evicts b
        clock.advance(.seconds(1))
        _ = cache.get("c")  // expired
        let stats = cache.stats
        #expect(stats.hits == 2)
        #expect(stats.misses == 2)
        #expect(stats.evictions == 1)
        #expect(stats.expirations == 1)
        #expect(stats.entries == 1)
        #expect(stats.bytes == 10 + overhead)

        let label = [("cache", "bars")]
        #expect(metrics.value("vigil_collector_cache_hits_total", label) == 2)
        #expect(metrics.value("vigil_collector_cache_misses_total", label) == 2)
        #expect(metrics.value("vigil_collector_cache_evictions_total", label + [("reason", "size")]) == 1)
        #expect(metrics.value("vigil_collector_cache_evictions_total", label + [("reason", "ttl")]) == 1)
        #expect(metrics.value("vigil_collector_cache_bytes", label) == Double(10 + overhead))
        #expect(metrics.value("vigil_collector_cache_entries", label) == 1)

        cache.removeAll()
        #expect(cache.stats.entries == 0)
        #expect(cache.stats.hits == 2)
        #expect(metrics.value("vigil_collector_cache_entries", label) == 0)
        #expect(metrics.value("vigil_collector_cache_bytes", label) == 0)
    }

    @Test func reusesFreedSlotsAndStaysConsistentUnderChurn() {
        let cache = ByteLRUCache<Int, Int>(name: "test", maxBytes: 16 * (1 + overhead), ttl: .seconds(60))
        for round in 0..<1_000 {
            cache.put(round % 40, round, cost: 1)
            if round % 7 == 0 { cache.remove((round + 3) % 40) }
            if round % 5 == 0 { _ = cache.get((round + 11) % 40) }
        }
        let stats = cache.stats
        #expect(stats.entries <= 16)
        #expect(stats.bytes == stats.entries * (1 + overhead))
        #expect(cache.get(999 % 40) == 999)
    }

    @Test func isSafeToShareAcrossTasks() async {
        let cache = ByteLRUCache<Int, Int>(name: "test", maxBytes: 100 * (8 + overhead), ttl: .seconds(60))
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for index in 0..<2_000 {
                        let key = (worker * 31 + index) % 300
                        if let value = cache.get(key) { #expect(value == key) } else { cache.put(key, key, cost: 8) }
                    }
                }
            }
        }
        let stats = cache.stats
        #expect(stats.entries <= 100)
        #expect(stats.bytes == stats.entries * (8 + overhead))
        #expect(stats.hits + stats.misses == 8_000)
    }
}

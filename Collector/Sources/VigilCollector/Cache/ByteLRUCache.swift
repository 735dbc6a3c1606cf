// Vigil collector cache: a thread-safe LRU cache bounded in bytes, with a per-cache TTL, for query results the API
// serves repeatedly (dashboards poll the same windows).

import Metrics
import Synchronization
import VigilTelemetry

/// A least-recently-used cache bounded by the bytes its entries cost, with a time-to-live.
///
/// - Every operation is O(1) and allocation-free once the cache has grown: a dictionary maps keys to slots of one
///   node array, and the recency list is linked through indices in those nodes; freed slots are reused.
/// - Each entry costs what the caller says (`put(_:_:cost:)`) plus ``entryOverhead`` bytes for its node and its
///   dictionary slot, so a flood of tiny entries is bounded too. An entry costing more than `maxBytes` is not stored.
/// - An entry at least `ttl` old (since it was put) is a miss and is removed. A `ttl` of zero or less disables expiry.
/// - Metrics (label `cache` = `name`): `vigil_collector_cache_hits_total`, `vigil_collector_cache_misses_total`,
///   `vigil_collector_cache_evictions_total{reason="size"|"ttl"}`, gauges `vigil_collector_cache_bytes` and
///   `vigil_collector_cache_entries`.
public final class ByteLRUCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// Bytes charged per entry on top of the caller's cost: an estimate of its node (key, value, links, cost, time)
    /// and its dictionary slot for small keys and values.
    public static var entryOverhead: Int { 64 }

    public let name: String
    public let maxBytes: Int
    public let ttl: Duration
    /// 0 when entries never expire.
    private let ttlNanoseconds: UInt64
    private let clock: @Sendable () -> UInt64
    private let storage = Mutex(Storage())
    private let metrics: CacheMetrics

    /// - Parameters:
    ///   - name: The `cache` metric label; keep it short and fixed (`detections`, `bars`).
    ///   - maxBytes: Budget for the entries' costs plus their overhead.
    ///   - ttl: Age at which an entry is stale; zero or less keeps entries until they are evicted.
    ///   - clock: Monotonic nanoseconds; tests inject their own. Default: `ContinuousClock`.
    ///   - metricsFactory: Where the instruments are created. Default: the bootstrapped `MetricsSystem.factory`.
    public init(
        name: String,
        maxBytes: Int,
        ttl: Duration,
        clock: (@Sendable () -> UInt64)? = nil,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.name = name
        self.maxBytes = maxBytes
        self.ttl = ttl
        self.ttlNanoseconds = Self.nanoseconds(ttl)
        self.clock = clock ?? monotonicNanoseconds
        self.metrics = CacheMetrics(cache: name, factory: metricsFactory)
    }

    /// The value for `key`, marking it most recently used; nil when absent or expired (an expired entry is removed).
    public func get(_ key: Key) -> Value? {
        let now = clock()
        let (value, expired) = storage.withLock { storage -> (Value?, Bool) in
            guard let slot = storage.index[key] else {
                storage.misses += 1
                return (nil, false)
            }
            if isExpired(storage.nodes[slot].insertedAt, now: now) {
                storage.remove(slot)
                storage.misses += 1
                storage.expirations += 1
                metrics.record(storage)
                return (nil, true)
            }
            storage.hits += 1
            storage.moveToFront(slot)
            return (storage.nodes[slot].value, false)
        }
        if value == nil {
            metrics.misses.increment()
            if expired { metrics.ttlEvictions.increment() }
        } else {
            metrics.hits.increment()
        }
        return value
    }

    /// Stores `value` as the most recently used entry, replacing any entry for `key`, and evicts least recently used
    /// entries until the budget holds. An entry whose cost plus overhead exceeds `maxBytes` is not stored (and any
    /// older entry for `key` is removed, as it is stale).
    public func put(_ key: Key, _ value: Value, cost: Int) {
        let (charged, overflow) = max(cost, 0).addingReportingOverflow(Self.entryOverhead)
        let fits = !overflow && charged <= maxBytes
        let now = clock()
        let (bySize, byAge) = storage.withLock { storage -> (Int, Int) in
            if let slot = storage.index[key] { storage.remove(slot) }
            guard fits else {
                metrics.record(storage)
                return (0, 0)
            }
            var bySize = 0
            var byAge = 0
            while storage.bytes > maxBytes - charged, storage.tail != Storage.none {
                // The least recently used entry goes; if it had expired anyway, it counts as an expiry.
                let victim = storage.tail
                if isExpired(storage.nodes[victim].insertedAt, now: now) {
                    byAge += 1
                    storage.expirations += 1
                } else {
                    bySize += 1
                    storage.evictions += 1
                }
                storage.remove(victim)
            }
            storage.insert(key: key, value: value, cost: charged, now: now)
            metrics.record(storage)
            return (bySize, byAge)
        }
        if bySize > 0 { metrics.sizeEvictions.increment(by: bySize) }
        if byAge > 0 { metrics.ttlEvictions.increment(by: byAge) }
    }

    /// Removes the entry for `key`, if any (not counted as an eviction).
    public func remove(_ key: Key) {
        storage.withLock { storage in
            guard let slot = storage.index[key] else { return }
            storage.remove(slot)
            metrics.record(storage)
        }
    }

    /// Removes every entry (not counted as evictions); the hit, miss, eviction and expiry counts are kept.
    public func removeAll() {
        storage.withLock { storage in
            storage.index.removeAll(keepingCapacity: true)
            storage.nodes.removeAll(keepingCapacity: true)
            storage.head = Storage.none
            storage.tail = Storage.none
            storage.free = Storage.none
            storage.bytes = 0
            metrics.record(storage)
        }
    }

    /// Current entries and bytes (costs plus overhead), and the counts since creation: `evictions` are entries
    /// dropped for space, `expirations` entries dropped for age.
    public var stats: (entries: Int, bytes: Int, hits: UInt64, misses: UInt64, evictions: UInt64, expirations: UInt64) {
        storage.withLock { ($0.index.count, $0.bytes, $0.hits, $0.misses, $0.evictions, $0.expirations) }
    }

    private func isExpired(_ insertedAt: UInt64, now: UInt64) -> Bool {
        // A put racing with this read may stamp a time after `now`: not expired.
        ttlNanoseconds > 0 && now > insertedAt && now - insertedAt >= ttlNanoseconds
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        guard duration > .zero else { return 0 }
        let (seconds, attoseconds) = duration.components
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return .max }
        let (total, carry) = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
        return carry ? .max : max(total, 1)
    }

    // MARK: - Storage

    /// One slot of the node array: an entry and its links in the recency list (or in the free list when unused).
    private struct Node {
        var key: Key?
        var value: Value?
        var cost: Int
        var insertedAt: UInt64
        /// Toward the most recently used end.
        var previous: Int
        /// Toward the least recently used end; the next free slot while the slot is free.
        var next: Int
    }

    private struct Storage {
        static var none: Int { -1 }

        var index: [Key: Int] = [:]
        var nodes: [Node] = []
        /// Most recently used.
        var head = none
        /// Least recently used: the next to evict.
        var tail = none
        var free = none
        var bytes = 0
        var hits: UInt64 = 0
        var misses: UInt64 = 0
        var evictions: UInt64 = 0
        var expirations: UInt64 = 0

        mutating func insert(key: Key, value: Value, cost: Int, now: UInt64) {
            let node = Node(key: key, value: value, cost: cost, insertedAt: now, previous: Self.none, next: Self.none)
            let slot: Int
            if free != Self.none {
                slot = free
                free = nodes[slot].next
                nodes[slot] = node
            } else {
                slot = nodes.count
                nodes.append(node)
            }
            index[key] = slot
            bytes += cost
            linkAtFront(slot)
        }

        mutating func remove(_ slot: Int) {
            unlink(slot)
            if let key = nodes[slot].key { index.removeValue(forKey: key) }
            bytes -= nodes[slot].cost
            // Released now rather than when the slot is reused, so evicted values do not linger in memory.
            nodes[slot].key = nil
            nodes[slot].value = nil
            nodes[slot].cost = 0
            nodes[slot].next = free
            free = slot
        }

        mutating func moveToFront(_ slot: Int) {
            guard head != slot else { return }
            unlink(slot)
            linkAtFront(slot)
        }

        private mutating func linkAtFront(_ slot: Int) {
            nodes[slot].previous = Self.none
            nodes[slot].next = head
            if head != Self.none { nodes[head].previous = slot }
            head = slot
            if tail == Self.none { tail = slot }
        }

        private mutating func unlink(_ slot: Int) {
            let previous = nodes[slot].previous
            let next = nodes[slot].next
            if previous != Self.none { nodes[previous].next = next } else { head = next }
            if next != Self.none { nodes[next].previous = previous } else { tail = previous }
            nodes[slot].previous = Self.none
            nodes[slot].next = Self.none
        }
    }

    // MARK: - Metrics

    /// The cache's instruments, created once so the access path never looks a metric up.
    private struct CacheMetrics: Sendable {
        let hits: Counter
        let misses: Counter
        let sizeEvictions: Counter
        let ttlEvictions: Counter
        let bytes: Gauge
        let entries: Gauge

        init(cache: String, factory: any MetricsFactory) {
            let label = [("cache", cache)]
            hits = Counter(label: MetricName.cacheHits, dimensions: label, factory: factory)
            misses = Counter(label: MetricName.cacheMisses, dimensions: label, factory: factory)
            sizeEvictions = Counter(label: MetricName.cacheEvictions, dimensions: label + [("reason", "size")], factory: factory)
            ttlEvictions = Counter(label: MetricName.cacheEvictions, dimensions: label + [("reason", "ttl")], factory: factory)
            bytes = Gauge(label: MetricName.cacheBytes, dimensions: label, factory: factory)
            entries = Gauge(label: MetricName.cacheEntries, dimensions: label, factory: factory)
        }

        /// Called under the lock so that concurrent updates cannot leave the gauges at a stale value.
        func record(_ storage: Storage) {
            bytes.record(storage.bytes)
            entries.record(storage.index.count)
        }
    }
}

// MARK: - Default clock

private let processStart = ContinuousClock.now

/// Nanoseconds since the first use in this process, from the monotonic `ContinuousClock`.
private func monotonicNanoseconds() -> UInt64 {
    let (seconds, attoseconds) = (ContinuousClock.now - processStart).components
    return UInt64(clamping: seconds) &* 1_000_000_000 &+ UInt64(clamping: attoseconds / 1_000_000_000)
}

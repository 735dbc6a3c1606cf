#if canImport(Darwin)
    import Darwin
#elseif canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// libm entry points used by the detectors, so that only this file has to pick the platform's C library (the module
/// stays free of Foundation). `@inlinable` so the optimizer sees straight through them from client modules.
@inlinable @inline(__always)
func vLog(_ x: Double) -> Double { log(x) }

@inlinable @inline(__always)
func vLog1p(_ x: Double) -> Double { log1p(x) }

@inlinable @inline(__always)
func vExp(_ x: Double) -> Double { exp(x) }

@inlinable @inline(__always)
func vCos(_ x: Double) -> Double { cos(x) }

@inlinable @inline(__always)
func vPow(_ x: Double, _ y: Double) -> Double { pow(x, y) }

/// Smoothing factor of an exponentially weighted average with the given half-life in bars: after `halfLife` updates an
/// old observation weighs half as much. `α = 1 − 2^(−1/halfLife)`.
@inlinable
func ewmaAlpha(halfLife: Double) -> Double {
    guard halfLife.isFinite, halfLife > 0 else { return 1 }
    return 1 - vExp(-0.693_147_180_559_945_3 / halfLife)
}

/// `max` and `min` for the hot path, written as compare-and-select so that x86 emits one `maxsd`/`minsd`: the standard
/// library's generic `max`/`min` compile to a compare and a 3-instruction blend on baseline x86-64, and the kernel has
/// dozens of them per bar. Same result as `max`/`min` for every non-NaN input (the kernel never feeds NaN: bars are
/// validated first).
@inlinable @inline(__always)
func fastMax(_ a: Double, _ b: Double) -> Double { a > b ? a : b }

@inlinable @inline(__always)
func fastMin(_ a: Double, _ b: Double) -> Double { a < b ? a : b }

/// Clamps `x` into `[low, high]`; NaN becomes `low`... never reached on the hot path because inputs are checked first.
@inlinable @inline(__always)
func clamp(_ x: Double, _ low: Double, _ high: Double) -> Double { min(max(x, low), high) }

/// Shared mapping from evidence (1 = at threshold) to a score in [0, 1): `e² / (1 + e²)`. Non-decreasing, 0.5 at e = 1,
/// 0.8 at e = 2, 0.9 at e = 3; no transcendental functions on the hot path.
@inlinable @inline(__always)
func evidenceToScore(_ e: Double) -> Double {
    // Clamped so that infinite evidence (a jump after a perfectly constant series) still maps to a number below 1.
    let c = min(e, 1e6)
    let e2 = c * c
    return e2 / (1 + e2)
}

/// Inverse of `evidenceToScore` for a score in [0, 1).
@inlinable
func scoreToEvidence(_ s: Double) -> Double {
    guard s > 0 else { return 0 }
    guard s < 1 else { return .infinity }
    return (s / (1 - s)).squareRoot()
}

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

/// ln(a / b) for positive finite a, b, fast and accurate (relative error < 1e-11) when a and b are within ~20 % of each
/// other, which is every bar-to-bar price ratio outside extreme events: ln(a/b) = 2·atanh(u), u = (a − b)/(a + b),
/// summed as an odd series. Falls back to libm otherwise. Scale-free, so prices of 1e-4 and 1e6 behave the same.
@inlinable @inline(__always)
func fastLogRatio(_ a: Double, _ b: Double) -> Double {
    let u = (a - b) / (a + b)
    if abs(u) < 0.1 {
        let u2 = u * u
        let series = 1 + u2 * (1.0 / 3 + u2 * (1.0 / 5 + u2 * (1.0 / 7 + u2 * (1.0 / 9 + u2 * (1.0 / 11)))))
        return 2 * u * series
    }
    return vLog(a / b)
}

/// ln(x) for x ≥ 1 (finite), relative error < 1e-10: split off the binary exponent, bring the mantissa into
/// [√½, √2) and sum the atanh series. Used for log volume, where libm's full-precision `log1p` is wasted work.
@inlinable @inline(__always)
func fastLogAtLeastOne(_ x: Double) -> Double {
    let bits = x.bitPattern
    var exponent = Int((bits >> 52) & 0x7FF) - 1023
    var m = Double(bitPattern: (bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000)
    if m > 1.414_213_562_373_095_1 {
        m *= 0.5
        exponent += 1
    }
    let u = (m - 1) / (m + 1)
    let u2 = u * u
    let series =
        1 + u2 * (1.0 / 3 + u2 * (1.0 / 5 + u2 * (1.0 / 7 + u2 * (1.0 / 9 + u2 * (1.0 / 11 + u2 * (1.0 / 13))))))
    return Double(exponent) * 0.693_147_180_559_945_3 + 2 * u * series
}

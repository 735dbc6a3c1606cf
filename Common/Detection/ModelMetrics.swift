/// Threshold-free quality measures of a model's scores against binary labels, for held-out evaluation and the
/// model registry. Both treat tied scores as one threshold, like scikit-learn, so the result does not depend on the
/// order of tied rows.
public enum ModelMetrics {
    /// Area under the ROC curve: the probability that a random positive scores above a random negative, ties
    /// counting one half (the Mann–Whitney U statistic over P·N).
    ///
    /// - Parameters:
    ///   - scores: one score per row, higher = more likely positive.
    ///   - labels: `true` for positive rows; same count as `scores`.
    /// - Returns: the AUC in 0...1, or nil when it is undefined: counts differ, a score is NaN, or one class is
    ///   missing.
    public static func rocAUC(scores: [Double], labels: [Bool]) -> Double? {
        guard let order = ascendingOrder(scores: scores, labels: labels) else { return nil }
        var negativesBelow = 0.0
        var positives = 0.0
        var sum = 0.0
        var i = 0
        while i < order.count {
            var groupPositives = 0.0
            var groupNegatives = 0.0
            let value = scores[order[i]]
            while i < order.count, scores[order[i]] == value {
                if labels[order[i]] { groupPositives += 1 } else { groupNegatives += 1 }
                i += 1
            }
            sum += groupPositives * (negativesBelow + 0.5 * groupNegatives)
            negativesBelow += groupNegatives
            positives += groupPositives
        }
        guard positives > 0, negativesBelow > 0 else { return nil }
        return sum / (positives * negativesBelow)
    }

    /// Area under the precision–recall curve as average precision, Σ (Rₖ − Rₖ₋₁)·Pₖ over the distinct score
    /// thresholds from high to low (scikit-learn's `average_precision_score`): no interpolation, so it is not
    /// optimistic.
    ///
    /// - Parameters:
    ///   - scores: one score per row, higher = more likely positive.
    ///   - labels: `true` for positive rows; same count as `scores`.
    /// - Returns: average precision in 0...1, or nil when counts differ, a score is NaN or there is no positive.
    public static func prAUC(scores: [Double], labels: [Bool]) -> Double? {
        guard let order = ascendingOrder(scores: scores, labels: labels) else { return nil }
        let totalPositives = Double(labels.lazy.filter { $0 }.count)
        guard totalPositives > 0 else { return nil }
        var truePositives = 0.0
        var flagged = 0.0
        var area = 0.0
        var previousRecall = 0.0
        var i = order.count - 1
        while i >= 0 {
            let value = scores[order[i]]
            while i >= 0, scores[order[i]] == value {
                if labels[order[i]] { truePositives += 1 }
                flagged += 1
                i -= 1
            }
            let recall = truePositives / totalPositives
            area += (recall - previousRecall) * (truePositives / flagged)
            previousRecall = recall
        }
        return area
    }

    /// Row indices sorted by score, or nil when the inputs cannot be ranked.
    private static func ascendingOrder(scores: [Double], labels: [Bool]) -> [Int]? {
        guard scores.count == labels.count, !scores.isEmpty, !scores.contains(where: \.isNaN) else { return nil }
        return scores.indices.sorted { scores[$0] < scores[$1] }
    }
}

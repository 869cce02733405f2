/**
 * The price of an order line: small on purpose, so C2 inlines it into its caller, the checkout lambda in Shop8. A
 * flame graph names it only when the profiler expands inlined frames (its own compiled copy, if any, is never run
 * from the hot loop). Top-level rather than nested, so its frame reads `Pricing::total` on every JDK.
 */
final class Pricing {
  private Pricing() {}

  static long total(int quantity, long unitCents, int taxPermille) {
    long net = quantity * unitCents;
    // 5% off from ten items: a branch, so the inlined code is more than one multiply.
    if (quantity >= 10) net -= net / 20;
    return net + net * taxPermille / 1000;
  }
}

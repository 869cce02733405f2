/**
 * The price of an order line: small enough that C2 inlines it into its caller, the checkout lambda in Shop8. A
 * flame graph names it only when the profiler expands inlined frames (its own compiled copy, if any, is never run
 * from the hot loop). Top-level rather than nested, so its frame reads `Pricing::total` on every JDK.
 */
final class Pricing {
  private Pricing() {}

  static long total(int quantity, long unitCents, int taxPermille) {
    long net = quantity * unitCents;
    // 5% off from ten items: a branch, so the inlined code is more than one multiply.
    if (quantity >= 10) net -= net / 20;
    // A year of monthly instalments with interest: most of the checkout's time, so a graph that charges it to the
    // lambda points at the wrong method. Small enough (under FreqInlineSize) for C2 to inline it where it is hot.
    long due = net;
    for (int month = 0; month < 12; month++) due += due * 7 / 1000 + (due >>> 11) % 13;
    return due + due * taxPermille / 1000;
  }
}

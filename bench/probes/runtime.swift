// Start-up probe (bench/run part 0): the Swift runtime alone — no Foundation.
print("probe")

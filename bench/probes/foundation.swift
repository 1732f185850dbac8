// Start-up probe (bench/run part 0): the Swift runtime plus Foundation (as card-inspect links it).
import Foundation

FileHandle.standardOutput.write(Data("probe \(ProcessInfo.processInfo.processIdentifier > 0)\n".utf8))

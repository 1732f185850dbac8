import Foundation

// card-inspect is specified (issue 7) but not built yet: say so clearly instead of pretending.
FileHandle.standardError.write(Data("card-inspect: not implemented yet; use jpkid (see README)\n".utf8))
exit(64)

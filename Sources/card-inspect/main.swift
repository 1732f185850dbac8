import Foundation
import Inspect

// card-inspect: argument parsing and the commands live in the Inspect library.
exit(await CardInspect.run(arguments: Array(CommandLine.arguments.dropFirst())))

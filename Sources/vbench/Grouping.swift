import ArgumentParser
import VBenchStoreAPI

extension GroupKey: ExpressibleByArgument {}

import LessorRedis

/// `body` applied to every element at once (reads of several environments or items, each its
/// own Redis call, pipelined by the client); the results in the elements' order.
func concurrently<Element: Sendable, Result: Sendable>(
    _ elements: [Element], _ body: @escaping @Sendable (Element) async throws(StoreError) -> Result
) async throws(StoreError) -> [Result] {
    do {
        return try await withThrowingTaskGroup(of: (Int, Result).self) { group in
            for (index, element) in elements.enumerated() {
                group.addTask { (index, try await body(element)) }
            }
            var results = [Result?](repeating: nil, count: elements.count)
            for try await (index, result) in group { results[index] = result }
            return results.map { $0! }  // the group ended without throwing: every index is set
        }
    } catch let error as StoreError {
        throw error
    } catch {
        // Only `body` throws, and only StoreError; a cancelled request ends here too.
        throw .redis(RedisError(.shutdown, "the reads were cancelled"))
    }
}

import Testing
@testable import LlamaConvert

@Suite("RoPE row layout")
struct RopeLayoutTests {
    @Test("one head of 8: HF row k takes Meta row [0,2,4,6,1,3,5,7][k]")
    func singleHeadWorkedExample() {
        #expect(RopeLayout.interleavedToRotateHalf(rows: 8, heads: 1) == [0, 2, 4, 6, 1, 3, 5, 7])
        #expect(RopeLayout.rotateHalfToInterleaved(rows: 8, heads: 1) == [0, 4, 1, 5, 2, 6, 3, 7])
    }

    @Test("two heads never cross the head boundary")
    func twoHeads() {
        #expect(RopeLayout.interleavedToRotateHalf(rows: 16, heads: 2) == [0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15])
    }

    @Test("HF→Meta→HF is the identity for MHA, GQA and MQA", arguments: [(256, 8), (64, 2), (32, 1)])
    func roundTrip(rows: Int, heads: Int) {
        let toMeta = RopeLayout.rotateHalfToInterleaved(rows: rows, heads: heads)
        let toHF = RopeLayout.interleavedToRotateHalf(rows: rows, heads: heads)
        #expect((0 ..< rows).map { toMeta[toHF[$0]] } == Array(0 ..< rows))
        #expect((0 ..< rows).map { toHF[toMeta[$0]] } == Array(0 ..< rows))
    }
}

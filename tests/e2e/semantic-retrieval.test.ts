/**
 * Semantic retrieval with the real model over a real server: a small set of documents on distinct
 * topics is ingested through KPS, then paraphrased questions (sharing few words with the answer)
 * must rank the right document first in vector mode, and among the first three in the default
 * hybrid mode (where an unrelated document sharing one common word, "hot", can rank first).
 */
import { describe, expect, test } from "bun:test";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { DcsmServer } from "../../runtime/server.ts";
import { GlobalLongTermMemoryService } from "../../sdk/gen/dcsm/v1/glm_service_pb.ts";
import { SearchMode } from "../../sdk/gen/dcsm/v1/kem_pb.ts";
import { KnowledgeProcessorService } from "../../sdk/gen/dcsm/v1/kps_service_pb.ts";
import { serverPerFile } from "../helpers/server-per-file.ts";

const DOCS: Record<string, string> = {
  "photosynthesis.txt":
    "Plants capture sunlight in their leaves and use it to turn carbon dioxide and water into sugar, releasing oxygen as a by-product.",
  "volcano.txt":
    "When pressure builds under the crust, molten rock forces its way up through a vent and erupts as lava, ash and gas.",
  "sourdough.txt":
    "Mix flour and water with a mature starter, let the dough ferment slowly overnight, then shape it and bake it in a very hot oven.",
  "marathon.txt":
    "Long-distance runners build endurance over months, increasing their weekly mileage gradually and tapering before race day.",
  "vaccines.txt":
    "An immunization exposes the body to a harmless piece of a pathogen so the immune system learns to recognise and fight it later.",
  "inflation.txt":
    "When the general level of prices keeps rising, each unit of currency buys fewer goods, and central banks respond by raising interest rates.",
  "tides.txt":
    "The gravitational pull of the moon on the oceans causes the sea level to rise and fall twice a day along the coasts.",
  "backup.txt":
    "Copy important files to an external drive and to a second location so that a disk failure or theft does not destroy your only copy.",
};

const QUESTIONS: [string, string][] = [
  ["how do green plants make food from light?", "photosynthesis.txt"],
  ["why does a mountain explode and spit out hot liquid stone?", "volcano.txt"],
  ["recipe for naturally leavened bread", "sourdough.txt"],
  ["training plan to finish a 42 km race", "marathon.txt"],
  ["how does getting a shot protect you from disease?", "vaccines.txt"],
  ["why does money lose its purchasing power?", "inflation.txt"],
  ["what makes the ocean go up and down every day?", "tides.txt"],
  ["protect my data against losing my hard disk", "backup.txt"],
];

let server: DcsmServer;
serverPerFile((s) => (server = s));

describe("semantic retrieval with the real model", () => {
  test("paraphrased questions rank the expected document first (vector) and in the top three (hybrid)", async () => {
    const transport = createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" });
    const kps = createClient(KnowledgeProcessorService, transport);
    const glm = createClient(GlobalLongTermMemoryService, transport);
    for (const [path, text] of Object.entries(DOCS)) {
      const res = await kps.processRawData({ rawContent: new TextEncoder().encode(text), sourcePath: path });
      expect(res.kemIds.length).toBe(1);
    }
    const misses: string[] = [];
    for (const [question, expected] of QUESTIONS) {
      const res = await glm.retrieveKEMs({
        query: { textQuery: question, searchMode: SearchMode.VECTOR },
        pageSize: 3,
      });
      const top = res.kems[0]?.metadata?.source_path;
      if (top !== expected) misses.push(`${question} → ${String(top)} (expected ${expected})`);
      expect(res.scores[0]!).toBeGreaterThan(res.scores[1]!);
      const hybrid = await glm.retrieveKEMs({ query: { textQuery: question }, pageSize: 3 });
      if (!hybrid.kems.some((k) => k.metadata?.source_path === expected))
        misses.push(`hybrid: ${question} → not in the top three`);
    }
    expect(misses).toEqual([]);
  });

  test("re-ingesting the same source updates its KEMs instead of duplicating them", async () => {
    const transport = createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" });
    const kps = createClient(KnowledgeProcessorService, transport);
    const glm = createClient(GlobalLongTermMemoryService, transport);
    const first = await kps.processRawData({
      rawContent: new TextEncoder().encode(DOCS["tides.txt"]!),
      sourcePath: "tides.txt",
    });
    const again = await kps.processRawData({
      rawContent: new TextEncoder().encode(`${DOCS["tides.txt"]!} Spring tides are stronger.`),
      sourcePath: "tides.txt",
    });
    expect(again.kemIds).toEqual(first.kemIds);
    const all = await glm.retrieveKEMs({
      query: { metadataFilters: { source_path: { kind: { case: "stringValue", value: "tides.txt" } } } },
    });
    expect(all.kems.length).toBe(1);
    expect(new TextDecoder().decode(all.kems[0]!.content)).toContain("Spring tides are stronger.");
  });
});

//! The part of a List Blobs answer a reader of a container needs: names, sizes, NextMarker.
//! See <https://learn.microsoft.com/rest/api/storageservices/list-blobs#response-body>.

use quick_xml::Reader;
use quick_xml::events::Event;

/// One `<Blob>` of a listing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ListedBlob {
    /// The blob name (relative to the container).
    pub name: String,
    /// `Properties/Content-Length`: its size in bytes.
    pub size: u64,
    /// `Properties/BlobType` (`AppendBlob`, `BlockBlob`, `PageBlob`).
    pub blob_type: String,
}

/// One page of a listing.
#[derive(Debug, Default)]
pub struct ListPage {
    /// The blobs of this page.
    pub blobs: Vec<ListedBlob>,
    /// Empty or absent = last page.
    pub next_marker: Option<String>,
}

/// Parses one page. `Err` carries a short reason (never the document itself).
pub fn parse_list(xml: &str) -> Result<ListPage, String> {
    let mut reader = Reader::from_str(xml);
    let mut page = ListPage::default();
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut blob: Option<ListedBlob> = None;
    loop {
        match reader.read_event() {
            Err(e) => {
                return Err(format!(
                    "malformed XML at byte {}: {e}",
                    reader.buffer_position()
                ));
            }
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name == "Blob" && path.last().is_some_and(|p| p == "Blobs") {
                    blob = Some(ListedBlob::default());
                }
                path.push(name);
                text.clear();
            }
            Ok(Event::Text(t)) => {
                text.push_str(&t.decode().map_err(|e| format!("bad text encoding: {e}"))?);
            }
            Ok(Event::CData(t)) => {
                text.push_str(&t.decode().map_err(|e| format!("bad text encoding: {e}"))?);
            }
            Ok(Event::GeneralRef(r)) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else {
                    let name = r.decode().map_err(|e| format!("bad entity: {e}"))?;
                    text.push(match name.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(format!("unknown entity &{other};")),
                    });
                }
            }
            Ok(Event::End(_)) => {
                let name = path.pop().unwrap_or_default();
                let parent = path.last().map(String::as_str).unwrap_or("");
                match (parent, name.as_str()) {
                    ("Blob", "Name") => {
                        if let Some(b) = blob.as_mut() {
                            b.name = std::mem::take(&mut text);
                        }
                    }
                    ("Properties", "Content-Length") => {
                        if let Some(b) = blob.as_mut() {
                            b.size = text.trim().parse().unwrap_or(0);
                        }
                    }
                    ("Properties", "BlobType") => {
                        if let Some(b) = blob.as_mut() {
                            b.blob_type = std::mem::take(&mut text);
                        }
                    }
                    ("Blobs", "Blob") => {
                        if let Some(b) = blob.take() {
                            page.blobs.push(b);
                        }
                    }
                    ("EnumerationResults", "NextMarker") => {
                        let m = std::mem::take(&mut text);
                        page.next_marker = (!m.trim().is_empty()).then_some(m);
                    }
                    _ => {}
                }
                text.clear();
            }
            Ok(_) => {}
        }
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sizes_and_marker() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1/devstoreaccount1" ContainerName="c">
 <Prefix>tenantId=t/</Prefix><Blobs>
  <Blob><Name>tenantId=t/y=2024/m=06/d=20/h=05/m=00/PT1H.json</Name>
   <Properties><Content-Length>1234</Content-Length><BlobType>AppendBlob</BlobType></Properties></Blob>
  <Blob><Name>a&amp;b</Name><Properties><Content-Length>0</Content-Length></Properties></Blob>
 </Blobs><NextMarker>2!abc</NextMarker></EnumerationResults>"#;
        let page = parse_list(xml).unwrap();
        assert_eq!(page.blobs.len(), 2);
        assert_eq!(page.blobs[0].size, 1234);
        assert_eq!(page.blobs[0].blob_type, "AppendBlob");
        assert_eq!(page.blobs[1].name, "a&b");
        assert_eq!(page.next_marker.as_deref(), Some("2!abc"));
        let last =
            parse_list("<EnumerationResults><Blobs/><NextMarker/></EnumerationResults>").unwrap();
        assert!(last.blobs.is_empty() && last.next_marker.is_none());
        assert!(parse_list("<a><b></a>").is_err());
    }
}

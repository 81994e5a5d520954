//! The one List Blobs parser: every field a caller of this workspace reads from a listing
//! (name, size, blob type, ETag, Last-Modified, metadata, NextMarker). The partition store
//! reads ownership and checkpoints from names, ETags and metadata; `replay` and the archive
//! read names, sizes and blob types. One parser, so a quirk of the service (an empty
//! `<ownerid />`, a padded marker) is handled once for both.
//! See <https://learn.microsoft.com/rest/api/storageservices/list-blobs#response-body>.

use std::time::SystemTime;

use quick_xml::Reader;
use quick_xml::events::Event;

/// One `<Blob>` of a listing. Absent elements stay at their default.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ListedBlob {
    /// The blob name (relative to the container), exactly as listed.
    pub name: String,
    /// `Properties/Content-Length`: its size in bytes.
    pub size: u64,
    /// `Properties/BlobType` (`AppendBlob`, `BlockBlob`, `PageBlob`).
    pub blob_type: String,
    /// `Properties/Etag` as listed (listings may omit the quotes the header has; callers
    /// that compare ETags normalise).
    pub etag: Option<String>,
    /// `Properties/Last-Modified`.
    pub last_modified: Option<SystemTime>,
    /// `Metadata` (only with `include=metadata`): names as stored (the service keeps their
    /// case), values as stored; `<ownerid />` is an entry with an empty value.
    pub metadata: Vec<(String, String)>,
}

/// One page of a listing.
#[derive(Debug, Default)]
pub struct ListPage {
    /// The blobs of this page, in the service's order.
    pub blobs: Vec<ListedBlob>,
    /// The continuation marker, trimmed; `None` (absent, empty or blank) = last page.
    pub next_marker: Option<String>,
}

/// Why a List Blobs answer could not be read. Carries a short reason, never the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unreadable List Blobs answer: {reason}; check that the endpoint is Azure Blob Storage \
     (or Azurite) and not a proxy's error page"
)]
pub struct ListError {
    /// What was wrong (a position, an element name, a value that is not a number or date).
    pub reason: String,
}

fn bad(reason: String) -> ListError {
    ListError { reason }
}

/// Parses one page of a List Blobs answer. A malformed document, a `Content-Length` that is
/// not a number or a `Last-Modified` that is not an HTTP date is an error: a half-read
/// listing would make a reader skip blobs or read the wrong byte ranges.
pub fn parse_list(xml: &str) -> Result<ListPage, ListError> {
    let mut reader = Reader::from_str(xml);
    let mut page = ListPage::default();
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut blob: Option<ListedBlob> = None;
    loop {
        match reader.read_event() {
            Err(e) => {
                return Err(bad(format!(
                    "malformed XML at byte {}: {e}",
                    reader.buffer_position()
                )));
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
            Ok(Event::Empty(e)) => {
                // `<ownerid />`: a metadata entry with an empty value (a relinquished claim).
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if let Some(b) = blob.as_mut()
                    && path.last().is_some_and(|p| p == "Metadata")
                {
                    b.metadata.push((name, String::new()));
                }
            }
            Ok(Event::Text(t)) => {
                text.push_str(
                    &t.decode()
                        .map_err(|e| bad(format!("bad text encoding: {e}")))?,
                );
            }
            Ok(Event::CData(t)) => {
                text.push_str(
                    &t.decode()
                        .map_err(|e| bad(format!("bad text encoding: {e}")))?,
                );
            }
            Ok(Event::GeneralRef(r)) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else {
                    let name = r.decode().map_err(|e| bad(format!("bad entity: {e}")))?;
                    text.push(match name.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(bad(format!("unknown entity &{other};"))),
                    });
                }
            }
            Ok(Event::End(_)) => {
                let Some(name) = path.pop() else {
                    return Err(bad("unbalanced end tag".into()));
                };
                let parent = path.last().map(String::as_str);
                let value = std::mem::take(&mut text);
                end_element(&mut page, &mut blob, parent, &name, value)?;
            }
            Ok(_) => {}
        }
    }
    Ok(page)
}

/// Stores the text of the element `name` (child of `parent`) that just ended.
fn end_element(
    page: &mut ListPage,
    blob: &mut Option<ListedBlob>,
    parent: Option<&str>,
    name: &str,
    value: String,
) -> Result<(), ListError> {
    if let (Some("Blobs"), "Blob") = (parent, name) {
        if let Some(b) = blob.take() {
            page.blobs.push(b);
        }
        return Ok(());
    }
    if let (Some("EnumerationResults"), "NextMarker") = (parent, name) {
        let marker = value.trim();
        page.next_marker = (!marker.is_empty()).then(|| marker.to_string());
        return Ok(());
    }
    let Some(b) = blob.as_mut() else {
        return Ok(());
    };
    match (parent, name) {
        (Some("Blob"), "Name") => b.name = value,
        (Some("Properties"), "Content-Length") => {
            b.size = value
                .trim()
                .parse()
                .map_err(|_| bad(format!("bad Content-Length {value:?} of {:?}", b.name)))?;
        }
        (Some("Properties"), "BlobType") => b.blob_type = value,
        (Some("Properties"), "Etag") => b.etag = Some(value),
        (Some("Properties"), "Last-Modified") => {
            let t = httpdate::parse_http_date(value.trim())
                .map_err(|_| bad(format!("bad Last-Modified {value:?} of {:?}", b.name)))?;
            b.last_modified = Some(t);
        }
        (Some("Metadata"), key) => b.metadata.push((key.to_string(), value)),
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The archive reader's fields (from the blob client's first parser).
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

    /// The partition store's fields (from its former parser, `blob/xml.rs`).
    #[test]
    fn parses_the_documented_shape() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1/devstoreaccount1" ContainerName="c">
  <Prefix>ns/hub/$default/ownership/</Prefix>
  <Blobs>
    <Blob>
      <Name>ns/hub/$default/ownership/0</Name>
      <Properties>
        <Last-Modified>Wed, 09 Sep 2009 09:20:02 GMT</Last-Modified>
        <Etag>0x8CBFF45D8A29A19</Etag>
        <Content-Length>0</Content-Length>
      </Properties>
      <Metadata><ownerid>a&amp;b</ownerid><Other>x</Other></Metadata>
    </Blob>
    <Blob>
      <Name>ns/hub/$default/ownership/1</Name>
      <Properties><Etag>&quot;0x1&quot;</Etag></Properties>
      <Metadata><ownerid /></Metadata>
    </Blob>
  </Blobs>
  <NextMarker>2!84!abc</NextMarker>
</EnumerationResults>"#;
        let page = parse_list(xml).unwrap();
        assert_eq!(page.blobs.len(), 2);
        assert_eq!(page.blobs[0].name, "ns/hub/$default/ownership/0");
        assert_eq!(page.blobs[0].etag.as_deref(), Some("0x8CBFF45D8A29A19"));
        assert_eq!(
            page.blobs[0].last_modified,
            Some(httpdate::parse_http_date("Wed, 09 Sep 2009 09:20:02 GMT").unwrap())
        );
        assert_eq!(
            page.blobs[0].metadata,
            vec![
                ("ownerid".into(), "a&b".into()),
                ("Other".into(), "x".into())
            ]
        );
        assert_eq!(page.blobs[1].etag.as_deref(), Some("\"0x1\""));
        assert_eq!(
            page.blobs[1].metadata,
            vec![("ownerid".into(), String::new())]
        );
        assert_eq!(page.next_marker.as_deref(), Some("2!84!abc"));
    }

    #[test]
    fn empty_listing_and_garbage() {
        let page =
            parse_list("<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>").unwrap();
        assert!(page.blobs.is_empty() && page.next_marker.is_none());
        assert!(parse_list("<a><b></a>").is_err());
    }

    /// What neither former parser did: a padded marker is trimmed (the store sent it back
    /// with its whitespace), a blank one ends the listing, and a size or date that is not one
    /// is an error rather than 0 or None.
    #[test]
    fn marker_trimmed_and_bad_values_refused() {
        let page = parse_list(
            "<EnumerationResults><Blobs /><NextMarker>\n  2!84!abc \n</NextMarker></EnumerationResults>",
        )
        .unwrap();
        assert_eq!(page.next_marker.as_deref(), Some("2!84!abc"));
        let page = parse_list(
            "<EnumerationResults><Blobs /><NextMarker>  </NextMarker></EnumerationResults>",
        )
        .unwrap();
        assert!(page.next_marker.is_none());
        let e = parse_list(
            "<EnumerationResults><Blobs><Blob><Name>b</Name><Properties>\
             <Content-Length>12x</Content-Length></Properties></Blob></Blobs></EnumerationResults>",
        )
        .unwrap_err();
        assert!(e.reason.contains("Content-Length"), "{e}");
        let e = parse_list(
            "<EnumerationResults><Blobs><Blob><Name>b</Name><Properties>\
             <Last-Modified>yesterday</Last-Modified></Properties></Blob></Blobs></EnumerationResults>",
        )
        .unwrap_err();
        assert!(e.to_string().contains("Last-Modified"), "{e}");
    }
}
